// STUB: replaced by the @Backpressure implementation (issue 3).
import type { Call, Layer, Step } from '../core/layer.js';
import type { BackpressureGuard } from './backpressure.guard.js';

export class BackpressureLayer implements Layer {
  constructor(readonly guard: BackpressureGuard) {}
  promise(next: Step, call: Call): Promise<unknown> {
    return next.promise(call);
  }
  stream(next: Step, call: Call): AsyncIterable<unknown> {
    return next.stream(call);
  }
}
