import type { Call, Layer, Step } from '../core/layer.js';
import { isPromiseLike } from '../core/maybe-promise.js';
import { returnUpstream } from '../core/streams.js';
import type { AdmittedCall, CircuitAdmission } from './circuit-breaker.store.js';
import type { CircuitBreakerPolicy } from './circuit-breaker.policy.js';

const DONE: IteratorResult<unknown> = { done: true, value: undefined };

/**
 * Admits or rejects each call before it runs and records its outcome. For a stream, an error
 * is a failure, completion a success, and a consumer that stops early neither. A call whose
 * signal aborted (its caller gave up) is neither either: a timeout never opens the circuit.
 */
export class CircuitBreakerLayer implements Layer {
  constructor(readonly policy: CircuitBreakerPolicy) {}

  promise(next: Step, call: Call): Promise<unknown> {
    const admission = this.policy.admit();
    if (isPromiseLike(admission)) return this.runWhenAdmitted(admission, next, call);
    return this.run(admission, next, call);
  }

  stream(next: Step, call: Call): AsyncIterable<unknown> {
    const policy = this.policy;
    return { [Symbol.asyncIterator]: () => new BreakerIterator(policy, next, call) };
  }

  /** Apart from `promise`, so its closure costs nothing when the store answers synchronously. */
  private runWhenAdmitted(
    admission: Promise<CircuitAdmission>,
    next: Step,
    call: Call,
  ): Promise<unknown> {
    return admission.then((a) => this.run(a, next, call));
  }

  private run(admission: CircuitAdmission, next: Step, call: Call): Promise<unknown> {
    if (!admission.admitted) return this.policy.reject(admission);
    const signal = call.signal;
    if (signal !== undefined) return this.runAbortable(admission, next, call, signal);
    const settle = this.policy.settlerFor(admission);
    return next.promise(call).then(settle.success, settle.failure);
  }

  /** Apart from `run`, so that its closure costs nothing to calls without a signal. */
  private runAbortable(
    admission: AdmittedCall,
    next: Step,
    call: Call,
    signal: AbortSignal,
  ): Promise<unknown> {
    const settle = this.policy.settlerFor(admission);
    return next.promise(call).then(settle.success, (error: unknown) => {
      if (!signal.aborted) return settle.failure(error);
      this.policy.settle(admission, 'ignored');
      throw error;
    });
  }
}

/**
 * A stream admitted at its first `next()`, whose outcome is recorded exactly once. Hand-written
 * rather than an async generator: a generator queues `return()` until its next `yield`, so a
 * consumer that left during a stalled read would neither tear the upstream down nor free a
 * half-open probe slot until another item came. Here `return()` settles the outcome as ignored
 * and forwards to the upstream at once.
 */
class BreakerIterator implements AsyncIterator<unknown> {
  private inner: AsyncIterator<unknown> | undefined;
  private opening: Promise<void> | undefined;
  /** The admission whose outcome is still to be recorded. */
  private admission: AdmittedCall | undefined;
  /** When the stream was admitted, if the breaker times calls (`slowCallMs`). */
  private startedAt: number | undefined;
  /** True while a `next()` of the inner iterator is pending. */
  private reading = false;
  private closed = false;

  constructor(
    private readonly policy: CircuitBreakerPolicy,
    private readonly step: Step,
    private readonly call: Call,
  ) {}

  async next(): Promise<IteratorResult<unknown>> {
    if (this.closed) return DONE;
    if (this.inner === undefined) {
      await (this.opening ??= this.open());
      if (this.closed || this.inner === undefined) return DONE; // left while being admitted
    }
    let result: IteratorResult<unknown>;
    this.reading = true;
    try {
      result = await this.inner.next();
    } catch (error) {
      if (!this.closed) this.fail(error);
      return DONE; // the consumer left mid-read: its outcome is already recorded as ignored
    } finally {
      this.reading = false;
    }
    if (this.closed) return DONE;
    if (result.done) this.settle('success');
    return result;
  }

  return(value?: unknown): Promise<IteratorResult<unknown>> {
    if (this.closed) return Promise.resolve({ done: true, value });
    this.settle('ignored');
    const inner = this.inner;
    this.inner = undefined;
    return returnUpstream(inner, this.reading, value);
  }

  private async open(): Promise<void> {
    const admission = await this.policy.admit();
    if (!admission.admitted) {
      if (this.closed) return; // the consumer left while waiting: nothing to report
      this.closed = true;
      throw this.policy.rejection(admission);
    }
    if (this.closed) return this.policy.settle(admission, 'ignored'); // left while admitted
    this.admission = admission;
    this.startedAt = this.policy.startTime();
    try {
      this.inner = this.step.stream(this.call)[Symbol.asyncIterator]();
    } catch (error) {
      this.fail(error);
    }
  }

  /** Records a stream error (unless the call's signal aborted) and rethrows it. */
  private fail(error: unknown): never {
    const admission = this.admission;
    this.admission = undefined;
    this.closed = true;
    if (admission !== undefined) {
      if (this.call.signal?.aborted) this.policy.settle(admission, 'ignored');
      else this.policy.settleError(admission, error, this.startedAt);
    }
    throw error;
  }

  /** Ends the stream and records its outcome, once. */
  private settle(outcome: 'success' | 'ignored'): void {
    this.closed = true;
    const admission = this.admission;
    if (admission === undefined) return;
    this.admission = undefined;
    this.policy.settle(admission, outcome, this.startedAt);
  }
}
