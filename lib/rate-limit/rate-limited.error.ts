import { errorGuard, OrchestratorError } from '../core/orchestrator.error.js';

/**
 * The rate limiter had no capacity for the call within `maxWaitMs`, or the provider asked for a
 * pause (a 429 with a reset hint). Retry after `retryAfterMs`.
 *
 * @publicApi
 */
export class RateLimitedError extends OrchestratorError {
  constructor(
    readonly limiter: string,
    readonly retryAfterMs: number,
    readonly reason: 'limit' | 'cooldown' = 'limit',
  ) {
    super(
      'RATE_LIMITED',
      reason === 'cooldown'
        ? `rate limiter "${limiter}" is cooling down after a provider rate limit; retry after ${retryAfterMs} ms`
        : `rate limiter "${limiter}" has no capacity; retry after ${retryAfterMs} ms`,
    );
  }
}

export const isRateLimitedError = errorGuard<RateLimitedError>('RATE_LIMITED');
