import type { Call, Layer, Step } from '../core/layer.js';
import { returnUpstream } from '../core/streams.js';
import type { RetryPolicy } from './retry.policy.js';

const DONE: IteratorResult<unknown> = { done: true, value: undefined };

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
 * failure before the first item, waiting the policy's delay in between. Hand-written rather than
 * an async generator: a generator queues `return()` until its next `yield`, so a consumer that
 * left during a stalled read or a backoff would not be let go until another item came (or every
 * attempt ran). Here `return()` ends the backoff and forwards to the running attempt at once.
 */
class RetryingIterator implements AsyncIterator<unknown> {
  private inner: AsyncIterator<unknown> | undefined;
  /** Aborted by `return()`: ends a backoff; created on the first backoff only. */
  private leave: AbortController | undefined;
  private attempt = 1;
  private previousDelay = 0;
  /** True once the current attempt delivered an item: from then on a failure is final. */
  private started = false;
  /** True while a `next()` of the inner iterator is pending. */
  private reading = false;
  private closed = false;

  constructor(
    private readonly policy: RetryPolicy,
    private readonly step: Step,
    private readonly call: Call,
  ) {}

  async next(): Promise<IteratorResult<unknown>> {
    for (;;) {
      if (this.closed) return DONE;
      let result: IteratorResult<unknown>;
      try {
        if (this.inner === undefined && this.attempt === 1) this.policy.started();
        const inner = (this.inner ??= this.step.stream(this.call)[Symbol.asyncIterator]());
        this.reading = true;
        try {
          result = await inner.next();
        } finally {
          this.reading = false;
        }
      } catch (error) {
        if (this.closed) return DONE; // the consumer left: what the attempt does now is moot
        await this.failed(error);
        continue;
      }
      if (this.closed) return DONE;
      if (result.done) this.closed = true;
      else this.started = true;
      return result;
    }
  }

  return(value?: unknown): Promise<IteratorResult<unknown>> {
    if (this.closed) return Promise.resolve({ done: true, value });
    this.closed = true;
    this.leave?.abort();
    const inner = this.inner;
    this.inner = undefined;
    return returnUpstream(inner, this.reading, value);
  }

  /** Waits before the next attempt, or throws when this failure is final. */
  private async failed(error: unknown): Promise<void> {
    const { policy, attempt } = this;
    this.inner = undefined;
    const signal = this.call.signal;
    const delay =
      this.started || signal?.aborted
        ? undefined
        : policy.nextDelay(error, attempt, this.previousDelay);
    if (delay === undefined) {
      this.closed = true;
      throw this.started || signal?.aborted ? error : policy.giveUp(error, attempt);
    }
    if (!(await policy.budgetAllows(error))) {
      this.closed = true;
      throw error;
    }
    policy.reportScheduled(error, attempt, delay);
    try {
      await this.backoff(delay, signal);
    } catch (reason) {
      if (this.closed) return; // `return()` ended the wait; `next()` sees `closed`
      this.closed = true;
      throw reason; // the call's signal aborted
    }
    this.previousDelay = delay;
    this.attempt = attempt + 1;
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
