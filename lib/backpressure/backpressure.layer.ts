import type { Call, Layer, Step } from '../core/layer.js';
import { GuardedIterator, type Opened } from '../core/guarded-iterator.js';
import type { BackpressurePermit } from './backpressure-permit.js';
import type { BackpressureGuard } from './backpressure.policy.js';

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
    return { [Symbol.asyncIterator]: () => new SlotIterator(guard, next, call) };
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
class SlotIterator extends GuardedIterator {
  private permit: BackpressurePermit | undefined;
  private readonly leave = new AbortController();

  constructor(
    private readonly guard: BackpressureGuard,
    private readonly step: Step,
    private readonly call: Call,
  ) {
    super();
  }

  protected override open(): Opened | Promise<Opened> {
    if (this.step.answersWithoutExecution(this.call)) return this.openStream();
    return this.guard.acquire(this.leave.signal).then(
      (permit) => {
        if (this.closed) return void permit.release();
        this.permit = permit;
        return this.openStream();
      },
      (error: unknown) => {
        if (this.closed) return undefined; // the consumer left while waiting: nothing to report
        throw error;
      },
    );
  }

  protected override onDone(): void {
    this.releasePermit(false);
  }

  protected override onError(): boolean {
    this.releasePermit(false);
    return false;
  }

  protected override onAbandon(): void {
    this.leave.abort();
    this.releasePermit(true);
  }

  private openStream(): AsyncIterator<unknown> {
    return this.step.stream(this.call)[Symbol.asyncIterator]();
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
