import type { Call, Layer, Step } from '../core/layer.js';
import { isPromiseLike } from '../core/maybe-promise.js';
import { GuardedIterator, type Opened } from '../core/guarded-iterator.js';
import type { AdmittedCall, CircuitAdmission } from './circuit-breaker.store.js';
import type { CircuitBreakerPolicy } from './circuit-breaker.policy.js';

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
 * A stream admitted at its first `next()`, whose outcome is recorded exactly once. `return()`
 * settles it as ignored and reaches the upstream at once, even mid-read (see GuardedIterator), so
 * a consumer that left a stalled read frees a half-open probe slot at once.
 */
class BreakerIterator extends GuardedIterator {
  /** The admission whose outcome is still to be recorded. */
  private admission: AdmittedCall | undefined;
  /** When the stream was admitted, if the breaker times calls (`slowCallMs`). */
  private startedAt: number | undefined;

  constructor(
    private readonly policy: CircuitBreakerPolicy,
    private readonly step: Step,
    private readonly call: Call,
  ) {
    super();
  }

  protected override async open(): Promise<Opened> {
    const admission = await this.policy.admit();
    if (!admission.admitted) {
      if (this.closed) return undefined; // the consumer left while waiting: nothing to report
      throw this.policy.rejection(admission);
    }
    if (this.closed) {
      this.policy.settle(admission, 'ignored'); // left while being admitted
      return undefined;
    }
    this.admission = admission;
    this.startedAt = this.policy.startTime();
    return this.step.stream(this.call)[Symbol.asyncIterator]();
  }

  protected override onDone(): void {
    this.settle('success');
  }

  protected override onAbandon(): void {
    this.settle('ignored');
  }

  /** Records a stream error (unless the call's signal aborted); the stream ends with it. */
  protected override onError(error: unknown): boolean {
    const admission = this.admission;
    this.admission = undefined;
    if (admission !== undefined) {
      if (this.call.signal?.aborted) this.policy.settle(admission, 'ignored');
      else this.policy.settleError(admission, error, this.startedAt);
    }
    return false;
  }

  /** Records the outcome, once. */
  private settle(outcome: 'success' | 'ignored'): void {
    const admission = this.admission;
    if (admission === undefined) return;
    this.admission = undefined;
    this.policy.settle(admission, outcome, this.startedAt);
  }
}
