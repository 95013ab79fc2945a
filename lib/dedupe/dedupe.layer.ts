import type { Call, Layer, Step } from '../core/layer.js';
import { raceAbort } from '../core/race-abort.js';
import type { DedupeOptions } from './dedupe-options.js';
import type { Deduplicator } from './deduplicator.js';
import { LazyIterator } from './shared-stream.js';

/**
 * Shares one execution among concurrent calls with equal keys and serves completed results
 * from the cache. A stream is shared with a replay buffer; the decision is made at its first
 * `next()`.
 */
export class DedupeLayer implements Layer {
  private readonly key: ((...args: any[]) => string) | undefined;

  /**
   * `options`: the method's own dedupe options, whose `key` function reads its arguments, so
   * methods sharing a dedupe name may differ in it (no `key`: the hash of the arguments).
   * Without them, the deduplicator's own `key` applies.
   */
  constructor(
    readonly deduplicator: Deduplicator,
    options: Pick<DedupeOptions, 'key'> = deduplicator.options,
  ) {
    this.key = options.key;
  }

  promise(next: Step, call: Call): Promise<unknown> {
    let key: string;
    try {
      key = this.deduplicator.keyOf(call, this.key);
    } catch (error) {
      return Promise.reject(error);
    }
    const shared = this.deduplicator.execute(key, call, next);
    // A caller that leaves rejects alone, at once: the shared execution goes on for the others
    // (its own signal aborts only once every caller has left).
    return call.signal === undefined ? shared : raceAbort(shared, call.signal);
  }

  stream(next: Step, call: Call): AsyncIterable<unknown> {
    const { deduplicator, key } = this;
    return {
      [Symbol.asyncIterator]: () =>
        new LazyIterator(() => deduplicator.shareStream(deduplicator.keyOf(call, key), call, next)),
    };
  }

  /** Lets an outer backpressure layer admit a dedupe hit without a slot of its own. */
  answersWithoutExecution(next: Step, call: Call): boolean {
    let key: string;
    try {
      key = this.deduplicator.keyOf(call, this.key);
    } catch {
      return false; // The call itself will report the bad key.
    }
    return this.deduplicator.answersWithoutExecution(key) || next.answersWithoutExecution(call);
  }
}
