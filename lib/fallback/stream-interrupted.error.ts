import { errorGuard, OrchestratorError } from '../core/orchestrator.error.js';
import { messageOf } from '../core/message-of.js';

/**
 * What a `@Fallback` handler receives when a stream failed after delivering items: the caller
 * already has `itemsDelivered` items, so the handler's stream should continue from there (an
 * LLM answer finished by a second model) rather than start over.
 *
 * @publicApi
 * @example
 * async *continueAnswer(prompt: string, error: unknown) {
 *   const sent = isStreamInterruptedError(error) ? error.itemsDelivered : 0;
 *   yield* this.backup.stream(prompt, { skipTokens: sent });
 * }
 */
export class StreamInterruptedError extends OrchestratorError {
  /** What the stream failed with. */
  declare readonly cause: unknown;

  constructor(
    cause: unknown,
    /** Items the caller received before the failure. */
    readonly itemsDelivered: number,
  ) {
    super(
      'STREAM_INTERRUPTED',
      `stream failed after ${itemsDelivered} item${itemsDelivered === 1 ? '' : 's'}: ${messageOf(cause)}`,
      { cause },
    );
  }
}

export const isStreamInterruptedError = errorGuard<StreamInterruptedError>('STREAM_INTERRUPTED');
