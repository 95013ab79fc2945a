import type { Call, Layer, Step } from '../core/layer.js';
import { isPromiseLike } from '../core/maybe-promise.js';
import type { CircuitAdmission } from './circuit-breaker.store.js';
import type { CircuitBreakerPolicy } from './circuit-breaker.policy.js';

/**
 * Admits or rejects each call before it runs and records its outcome. For a stream, an error
 * is a failure, completion a success, and a consumer that stops early neither.
 */
export class CircuitBreakerLayer implements Layer {
  constructor(readonly policy: CircuitBreakerPolicy) {}

  promise(next: Step, call: Call): Promise<unknown> {
    const admission = this.policy.admit();
    if (isPromiseLike(admission)) return this.runWhenAdmitted(admission, next, call);
    return this.run(admission, next, call);
  }

  async *stream(next: Step, call: Call): AsyncIterable<unknown> {
    const admission = await this.policy.admit();
    if (!admission.admitted) throw this.policy.rejection(admission);
    let outcome: 'success' | 'ignored' | undefined = 'ignored';
    try {
      yield* next.stream(call);
      outcome = 'success';
    } catch (error) {
      outcome = undefined;
      this.policy.settleError(admission, error);
      throw error;
    } finally {
      if (outcome !== undefined) this.policy.settle(admission, outcome);
    }
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
    if (!admission.admitted) return Promise.reject(this.policy.rejection(admission));
    const settle = this.policy.settlerFor(admission);
    return next.promise(call).then(settle.success, settle.failure);
  }
}
