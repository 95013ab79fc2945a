import type { Call, Layer, Step } from '../core/layer.js';
import type { Deduplicator } from './deduplicator.js';
import { LazyIterator } from './shared-stream.js';

/**
 * Shares one execution among concurrent calls with equal keys and serves completed results
 * from the cache. A stream is shared with a replay buffer; the decision is made at its first
 * `next()`.
 */
export class DedupeLayer implements Layer {
  constructor(readonly deduplicator: Deduplicator) {}

  promise(next: Step, call: Call): Promise<unknown> {
    let key: string;
    try {
      key = this.deduplicator.keyOf(call);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.deduplicator.execute(key, call, next);
  }

  stream(next: Step, call: Call): AsyncIterable<unknown> {
    const deduplicator = this.deduplicator;
    return {
      [Symbol.asyncIterator]: () =>
        new LazyIterator(() => deduplicator.shareStream(deduplicator.keyOf(call), call, next)),
    };
  }

  /** Lets an outer backpressure layer admit a dedupe hit without a slot of its own. */
  answersWithoutExecution(next: Step, call: Call): boolean {
    let key: string;
    try {
      key = this.deduplicator.keyOf(call);
    } catch {
      return false; // The call itself will report the bad key.
    }
    return this.deduplicator.answersWithoutExecution(key) || next.answersWithoutExecution(call);
  }
}
