import { errorGuard, OrchestratorError } from '../core/orchestrator.error.js';

/**
 * Redis could not serve a decision: it is down, hung, or the store is in degraded mode. Stores
 * usually fall back to in-process behaviour instead; this error reaches callers only where no
 * fallback exists (forcing a circuit, dedupe with `onRedisDown: 'reject'`).
 *
 * @publicApi
 */
export class RedisUnavailableError extends OrchestratorError {
  constructor(
    /** What was being done, e.g. `circuit "openai": force`. */
    readonly operation: string,
    options?: { cause?: unknown },
  ) {
    const cause = options?.cause instanceof Error ? `: ${options.cause.message}` : '';
    super('REDIS_UNAVAILABLE', `Redis unavailable for ${operation}${cause}`, options);
  }
}

/**
 * True for a `RedisUnavailableError`, even one from another copy of the package.
 *
 * @publicApi
 */
export const isRedisUnavailableError = errorGuard<RedisUnavailableError>('REDIS_UNAVAILABLE');
