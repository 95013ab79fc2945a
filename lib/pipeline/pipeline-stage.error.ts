import { errorGuard, OrchestratorError } from '../core/orchestrator.error.js';
import { messageOf } from '../core/message-of.js';

/**
 * A pipeline stage failed and no error handler recovered it (none was set, or the handler threw).
 * The run stopped at this stage; no later stage started.
 *
 * @publicApi
 * @example
 * try {
 *   await pipeline.run(prompt);
 * } catch (error) {
 *   if (isPipelineStageError(error)) logger.warn(`stage ${error.stage} failed`, error.cause);
 * }
 */
export class PipelineStageError extends OrchestratorError {
  /** What the stage (or the error handler, when it threw) failed with. */
  declare readonly cause: unknown;

  constructor(
    /** The pipeline's name. */
    readonly pipeline: string,
    /** The failed stage's name. */
    readonly stage: string,
    /** The failed stage's position, from 0. */
    readonly index: number,
    cause: unknown,
  ) {
    super(
      'PIPELINE_STAGE_FAILED',
      `pipeline "${pipeline}" stage "${stage}" (#${index}) failed: ${messageOf(cause)}`,
      { cause },
    );
  }
}

export const isPipelineStageError = errorGuard<PipelineStageError>('PIPELINE_STAGE_FAILED');
