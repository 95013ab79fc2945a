import { errorGuard, OrchestratorError } from '../core/orchestrator.error.js';

/** Which limit expired: the whole attempt, the wait for a stream's first item, or a gap. */
export type TimeoutPhase = 'call' | 'first-item' | 'idle';

/**
 * An attempt outlived its `@Timeout`: the attempt's signal was aborted with this error and the
 * caller got it at once, without waiting for the method; a late result is dropped.
 *
 * @publicApi
 * @example
 * try {
 *   await llm.complete(prompt);
 * } catch (error) {
 *   if (isTimeoutError(error) && error.phase === 'first-item') logger.warn('no token in time');
 * }
 */
export class TimeoutError extends OrchestratorError {
  constructor(
    /** The timeout's policy name, or `ClassName.methodName` for inline options. */
    readonly policy: string,
    /** The limit that expired, in ms (`ms`, `firstItemMs` or `idleMs`, as `phase` says). */
    readonly timeoutMs: number,
    readonly phase: TimeoutPhase,
  ) {
    super('TIMEOUT', `"${policy}" timed out: ${describePhase(phase)} exceeded ${timeoutMs} ms`);
  }
}

function describePhase(phase: TimeoutPhase): string {
  if (phase === 'first-item') return 'the wait for the first item';
  if (phase === 'idle') return 'the gap between two items';
  return 'the attempt';
}

export const isTimeoutError = errorGuard<TimeoutError>('TIMEOUT');
