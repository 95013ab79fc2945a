import { errorGuard, OrchestratorError } from './orchestrator.error.js';

/**
 * Options that break a rule, or a decorator that names a policy the module does not define.
 * Raised at bootstrap (module options, policy references) or when a decorator is evaluated
 * (inline options), never at call time.
 *
 * @publicApi
 */
export class InvalidOptionsError extends OrchestratorError {
  constructor(
    /** Where the bad value sits, e.g. `policy "openai": circuitBreaker.threshold`. */
    readonly path: string,
    /** What was wrong and, where it helps, what to do. */
    readonly reason: string,
  ) {
    super('INVALID_OPTIONS', `${path} ${reason}`);
  }
}

export const isInvalidOptionsError = errorGuard<InvalidOptionsError>('INVALID_OPTIONS');
