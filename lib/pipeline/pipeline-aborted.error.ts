import { errorGuard, OrchestratorError } from '../core/orchestrator.error.js';
import { messageOf } from '../core/message-of.js';

/**
 * A pipeline run was aborted: the caller's `signal` aborted or `timeoutMs` elapsed. The run
 * rejected as soon as that happened; `stage` is the stage that was running, or the one that was
 * about to start, and no later stage started.
 *
 * @publicApi
 * @example
 * try {
 *   await pipeline.run(prompt, { timeoutMs: 5_000 });
 * } catch (error) {
 *   if (isPipelineAbortedError(error)) return fallbackAnswer(error.stage);
 *   throw error;
 * }
 */
export class PipelineAbortedError extends OrchestratorError {
  constructor(
    /** The pipeline's name. */
    readonly pipeline: string,
    /** The stage that was running (or about to start) when the run was aborted. */
    readonly stage: string,
    /** That stage's position, from 0. */
    readonly index: number,
    /** The abort reason: the caller signal's `reason`, or a `TimeoutError` for `timeoutMs`. */
    readonly reason: unknown,
  ) {
    super(
      'PIPELINE_ABORTED',
      `pipeline "${pipeline}" was aborted at stage "${stage}" (#${index}): ${messageOf(reason)}`,
    );
  }
}

export const isPipelineAbortedError = errorGuard<PipelineAbortedError>('PIPELINE_ABORTED');
