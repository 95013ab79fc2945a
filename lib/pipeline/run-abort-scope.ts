import type { Clock } from '../core/clock.js';
import { raceAbort } from '../core/race-abort.js';
import type { PipelineRunOptions } from './pipeline.types.js';

/** setTimeout's ceiling: a longer delay would fire at once, so such a timeout is never armed. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * The abort state of one run. It folds the caller's signal and the timeout into the signal the
 * stages see, races stage work against it, and releases the timer and the caller listener when
 * the run ends, so that a finished run leaves nothing behind.
 */
export class RunAbortScope {
  private readonly controller = new AbortController();
  /** Cancels the timeout's sleep when the run ends; absent when no timeout is armed. */
  private disposal?: AbortController;
  private callerSignal?: AbortSignal;
  /** False when nothing can abort this run: racing is then skipped. */
  private readonly abortable: boolean;
  private readonly onCallerAbort = (): void => this.controller.abort(this.callerSignal?.reason);

  constructor(pipeline: string, options: PipelineRunOptions, clock: Clock) {
    const { signal, timeoutMs } = options;
    this.abortable = signal !== undefined || timeoutMs !== undefined;
    if (signal?.aborted) {
      this.controller.abort(signal.reason);
      return;
    }
    if (signal !== undefined) {
      this.callerSignal = signal;
      signal.addEventListener('abort', this.onCallerAbort, { once: true });
    }
    if (timeoutMs !== undefined && timeoutMs <= MAX_TIMER_MS) this.arm(pipeline, timeoutMs, clock);
  }

  /** The signal handed to stages as `ctx.signal`. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /**
   * The signal handed to the stages' policies (`Call.signal`): absent when nothing can abort
   * this run, so that the policies keep their fast, signal-less path.
   */
  get policySignal(): AbortSignal | undefined {
    return this.abortable ? this.controller.signal : undefined;
  }

  /**
   * Settles with `work`, or rejects with the abort reason as soon as the run aborts.
   */
  race<T>(work: T | PromiseLike<T>): Promise<T> {
    if (!this.abortable) return Promise.resolve(work);
    return raceAbort(work, this.controller.signal);
  }

  /** Releases the caller listener and the timer. */
  dispose(): void {
    this.callerSignal?.removeEventListener('abort', this.onCallerAbort);
    this.disposal?.abort();
  }

  private arm(pipeline: string, timeoutMs: number, clock: Clock): void {
    const disposal = new AbortController();
    this.disposal = disposal;
    clock.sleep(timeoutMs, disposal.signal).then(
      () => {
        // A clock that ignores the signal still wakes us after the run ended: stay quiet then.
        if (disposal.signal.aborted) return;
        const message = `pipeline "${pipeline}" timed out after ${timeoutMs} ms`;
        this.controller.abort(new DOMException(message, 'TimeoutError'));
      },
      () => undefined, // the run ended first and cancelled the sleep
    );
  }
}
