import { errorGuard, OrchestratorError } from '../core/orchestrator.error.js';

/**
 * The circuit rejected the call without running it: it is open, or half-open with every
 * probe slot taken. Retry after `retryAfterMs`.
 *
 * @publicApi
 */
export class CircuitOpenError extends OrchestratorError {
  constructor(
    readonly circuit: string,
    readonly retryAfterMs: number,
  ) {
    super('CIRCUIT_OPEN', `circuit "${circuit}" is open; retry after ${retryAfterMs} ms`);
  }
}

export const isCircuitOpenError = errorGuard<CircuitOpenError>('CIRCUIT_OPEN');
