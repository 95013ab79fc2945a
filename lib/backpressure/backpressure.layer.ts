import type { Call, Layer, Step } from '../core/layer.js';
import type { BackpressurePermit } from './backpressure-permit.js';
import type { BackpressureGuard } from './backpressure.policy.js';

const DONE: IteratorResult<unknown> = { done: true, value: undefined };

/**
 * Holds a slot while the rest of the chain runs, and frees it exactly once however the call
 * ends. A call that an inner dedupe layer will answer from a running execution or its cache
 * takes no slot: the execution it joins already holds one.
 */
export class BackpressureLayer implements Layer {
  constructor(readonly guard: BackpressureGuard) {}

  promise(next: Step, call: Call): Promise<unknown> {
    if (next.answersWithoutExecution(call)) return next.promise(call);
    return this.guard.hold(next, call);
  }

  stream(next: Step, call: Call): AsyncIterable<unknown> {
    const guard = this.guard;
    return { [Symbol.asyncIterator]: () => new GuardedIterator(guard, next, call) };
  }

  answersWithoutExecution(next: Step, call: Call): boolean {
    return next.answersWithoutExecution(call);
  }
}

/**
 * A stream that takes its slot at the first `next()` (a stream nobody reads costs nothing) and
 * frees it when the stream finishes or throws, or at once when the consumer leaves
 * (`return()`, an unsubscribe), even mid-`next()`, or while it still waits for a slot.
 */
class GuardedIterator implements AsyncIterator<unknown> {
  private permit: BackpressurePermit | undefined;
  private inner: AsyncIterator<unknown> | undefined;
  private opening: Promise<void> | undefined;
  private readonly leave = new AbortController();
  private closed = false;

  constructor(
    private readonly guard: BackpressureGuard,
    private readonly step: Step,
    private readonly call: Call,
  ) {}

  async next(): Promise<IteratorResult<unknown>> {
    if (this.closed) return DONE;
    if (this.inner === undefined) {
      await (this.opening ??= this.open());
      if (this.closed || this.inner === undefined) return DONE; // left while waiting for a slot
    }
    try {
      const result = await this.inner.next();
      if (result.done) this.finish();
      return result;
    } catch (error) {
      this.finish();
      throw error;
    }
  }

  return(value?: unknown): Promise<IteratorResult<unknown>> {
    if (!this.closed) {
      this.closed = true;
      this.leave.abort();
      this.releasePermit(true);
      const inner = this.inner;
      if (inner?.return) Promise.resolve(inner.return()).catch(() => undefined);
    }
    return Promise.resolve({ done: true, value });
  }

  private async open(): Promise<void> {
    if (!this.step.answersWithoutExecution(this.call)) {
      let permit: BackpressurePermit;
      try {
        permit = await this.guard.acquire(this.leave.signal);
      } catch (error) {
        if (this.closed) return; // the consumer left while waiting: nothing to report
        this.closed = true;
        throw error;
      }
      if (this.closed) return permit.release();
      this.permit = permit;
    }
    try {
      this.inner = this.step.stream(this.call)[Symbol.asyncIterator]();
    } catch (error) {
      this.finish();
      throw error;
    }
  }

  private finish(): void {
    this.closed = true;
    this.releasePermit(false);
  }

  /**
   * A consumer that leaves a stream it leads for others (dedupe) hands its slot to the shared
   * execution: the slot is freed when that execution ends, so it never runs outside the cap.
   */
  private releasePermit(left: boolean): void {
    const permit = this.permit;
    if (permit === undefined) return;
    this.permit = undefined;
    const shared = left ? this.call.sharedExecution : undefined;
    if (shared === undefined) permit.release();
    else shared.then(() => permit.release());
  }
}
