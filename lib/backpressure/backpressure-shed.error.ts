import { errorGuard, OrchestratorError } from '../core/orchestrator.error.js';

/**
 * The guard refused the call without running it: `capacity` calls were in flight and no slot
 * freed within `maxWaitMs` (or the wait queue was full). `retryAfterMs` is the guard's estimate
 * of when a slot frees (from the observed hold times; 1000 when it has none).
 * `OrchestratorExceptionFilter` answers it with 429 and `Retry-After`.
 *
 * @publicApi
 */
export class BackpressureShedError extends OrchestratorError {
  constructor(
    /** The guard's name. */
    readonly guard: string,
    /** Slots held when the call was shed. */
    readonly depth: number,
    readonly capacity: number,
    readonly retryAfterMs: number,
    /** How long the call waited for a slot before it was shed, in ms (0: shed at once). */
    readonly waitedMs = 0,
  ) {
    super(
      'BACKPRESSURE_SHED',
      `backpressure "${guard}" is at capacity (${depth}/${capacity} in flight${
        waitedMs > 0 ? `, no slot within ${waitedMs} ms` : ''
      }); retry after ${retryAfterMs} ms`,
    );
  }
}

/**
 * True for a `BackpressureShedError`, even one from another copy of the package.
 *
 * @publicApi
 */
export const isBackpressureShedError = errorGuard<BackpressureShedError>('BACKPRESSURE_SHED');
