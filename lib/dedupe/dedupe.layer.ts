// STUB: replaced by the @Dedupe implementation (issue 3).
import type { Call, Layer, Step } from '../core/layer.js';
import type { Deduplicator } from './deduplicator.js';

export class DedupeLayer implements Layer {
  constructor(readonly deduplicator: Deduplicator) {}
  promise(next: Step, call: Call): Promise<unknown> {
    return next.promise(call);
  }
  stream(next: Step, call: Call): AsyncIterable<unknown> {
    return next.stream(call);
  }
}
