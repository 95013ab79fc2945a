import type { Call, Layer, Step } from '../core/layer.js';
import { GuardedIterator } from '../core/guarded-iterator.js';
import type { RetryPolicy } from './retry.policy.js';

/**
 * Retries the rest of the chain. A stream is retried only when it failed before its first item.
 * A call whose signal aborted is not retried any more, and its backoff ends at once.
 */
export class RetryLayer implements Layer {
  constructor(readonly policy: RetryPolicy) {}

  promise(next: Step, call: Call): Promise<unknown> {
    this.policy.started();
    return next
      .promise(call)
      .then(undefined, (error) =>
        this.policy.retryAfterFailure(() => next.promise(call), error, call.signal),
      );
  }

  stream(next: Step, call: Call): AsyncIterable<unknown> {
    const policy = this.policy;
    return { [Symbol.asyncIterator]: () => new RetryingIterator(policy, next, call) };
  }
}

/**
 * A stream that opens the rest of the chain at the first `next()` and opens it again after a
 * failure before the first item, waiting the policy's delay in between. `return()` ends the
 * backoff and reaches the running attempt at once (see GuardedIterator).
 */
class RetryingIterator extends GuardedIterator {
  /** Aborted by `return()`: ends a backoff; created on the first backoff only. */
  private leave: AbortController | undefined;
  private attempt = 1;
  private previousDelay = 0;
  /** True once the current attempt delivered an item: from then on a failure is final. */
  private started = false;

  constructor(
    private readonly policy: RetryPolicy,
    private readonly step: Step,
    private readonly call: Call,
  ) {
    super();
  }

  protected override open(): AsyncIterator<unknown> {
    if (this.attempt === 1) this.policy.started();
    return this.step.stream(this.call)[Symbol.asyncIterator]();
  }

  protected override onItem(): void {
    this.started = true;
  }

  protected override onAbandon(): void {
    this.leave?.abort();
  }

  /** Waits before the next attempt, or throws when this failure is final. */
  protected override async onError(error: unknown): Promise<boolean> {
    const { policy, attempt } = this;
    const signal = this.call.signal;
    const delay =
      this.started || signal?.aborted
        ? undefined
        : policy.nextDelay(error, attempt, this.previousDelay);
    if (delay === undefined) {
      throw this.started || signal?.aborted ? error : policy.giveUp(error, attempt);
    }
    if (!(await policy.budgetAllows(error))) return false;
    policy.reportScheduled(error, attempt, delay);
    try {
      await this.backoff(delay, signal);
    } catch (reason) {
      if (this.closed) return false; // `return()` ended the wait: the base ends as left
      throw reason; // the call's signal aborted
    }
    this.previousDelay = delay;
    this.attempt = attempt + 1;
    return true;
  }
  /** Sleeps `delay`, ended early by `return()` or by the call's signal. */
  private async backoff(delay: number, signal: AbortSignal | undefined): Promise<void> {
    const leave = (this.leave ??= new AbortController());
    if (signal === undefined) return this.policy.clock.sleep(delay, leave.signal);
    if (signal.aborted) throw signal.reason;
    const onAbort = () => leave.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await this.policy.clock.sleep(delay, leave.signal);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    // A clock that ignores the signal still must not start another attempt.
    if (signal.aborted) throw signal.reason;
  }
}
