import { systemClock, type Clock } from '../core/clock.js';
import { silentSink, type EventSink } from '../core/events.js';
import type { Call, Step } from '../core/layer.js';
import { describeValue } from '../core/validate.js';
import { ClaimLedger } from './claim-ledger.js';
import { defaultDedupeKey } from './dedupe-key.js';
import {
  resolveDedupeOptions,
  type DedupeOptions,
  type ResolvedDedupeOptions,
} from './dedupe-options.js';
import type { DedupeStore } from './dedupe.store.js';
import { FlightEngine } from './flight-engine.js';
import { InMemoryDedupeStore } from './in-memory-dedupe.store.js';

/** A dedupe key function, as in `DedupeOptions.key`. */
type DedupeKeyFn = (...args: any[]) => string;

/** Appended to a stream call's key: see `keyOf`. */
const STREAM_KEY_SUFFIX = ':stream';

/**
 * What a `Deduplicator` gets from its application (the decorator passes all three).
 *
 * @publicApi
 */
export interface DedupeRuntime {
  clock?: Clock;
  events?: EventSink;
  /** The namespace of the keys and the name in events; the decorator passes its dedupe name. */
  name?: string;
}

/**
 * The seed's answer to `checkAndRegister`: run it (`new`, the key is now yours until `complete`
 * or `fail`), use the cached value, or someone else is running it.
 *
 * @publicApi
 */
export type DeduplicationResult<V = unknown> =
  | { readonly kind: 'new' }
  | { readonly kind: 'cached'; readonly value: V }
  | { readonly kind: 'in-progress' };

const NEW: DeduplicationResult<never> = { kind: 'new' };
const IN_PROGRESS: DeduplicationResult<never> = { kind: 'in-progress' };

/**
 * Single flight plus a TTL cache over a store. Concurrent calls with one key share one execution
 * (joiners await the leader's promise; nobody polls); a completed result is served from the
 * cache for `ttlMs`; a failure is never cached: every caller sharing it gets the error and the
 * next call runs again. Pure: no Nest, clock injected.
 *
 * Also the seed's primitive (`checkAndRegister`, `complete`, `fail`, `dedupMany`), for callers
 * who run the work themselves. Without a `store` each instance has a private in-memory one.
 *
 * @publicApi
 * @example
 * const dedupe = new Deduplicator({ ttlMs: 60_000 });
 * const seen = await dedupe.checkAndRegister(promptHash);
 * if (seen.kind === 'cached') return seen.value;
 */
export class Deduplicator {
  readonly options: ResolvedDedupeOptions;
  /** The namespace of this deduplicator's keys in its store. */
  readonly name: string;
  readonly store: DedupeStore;
  readonly clock: Clock;
  private readonly ledger: ClaimLedger;
  private readonly engine: FlightEngine;

  constructor(options: DedupeOptions = {}, store?: DedupeStore, runtime: DedupeRuntime = {}) {
    this.options = resolveDedupeOptions(options, 'Deduplicator');
    this.name = runtime.name ?? this.options.name ?? 'dedupe';
    this.clock = runtime.clock ?? systemClock;
    this.store = store ?? new InMemoryDedupeStore(this.clock);
    const { leaseMs, maxEntries, ttlMs } = this.options;
    this.ledger = new ClaimLedger({
      name: this.name,
      store: this.store,
      config: { leaseMs, maxEntries },
      clock: this.clock,
      events: runtime.events ?? silentSink,
    });
    this.engine = new FlightEngine(this.ledger, ttlMs);
  }

  // ── The seed's primitive ────────────────────────────────────────────────────────────────

  /**
   * Whether `key` is new (and now claimed by the caller), cached, or in progress elsewhere.
   * Call `complete` or `fail` after a `new`, within `leaseMs`: the claim is not renewed, and
   * once it lapsed it is free for others and a late `complete` caches nothing.
   */
  async checkAndRegister<V = unknown>(key: string): Promise<DeduplicationResult<V>> {
    const claim = await this.ledger.ask(key);
    if (claim.kind === 'owner') {
      this.ledger.take(key, claim.token);
      return NEW;
    }
    return claim.kind === 'cached' ? { kind: 'cached', value: claim.value as V } : IN_PROGRESS;
  }

  /**
   * Ends the caller's claim on `key` with `value`, cached for `ttlMs` (`0`: expired at once).
   * Without a claim it writes the cache directly: it warms an absent key and replaces a cached
   * value; a key someone else is running is left to them.
   */
  async complete(key: string, value: unknown): Promise<void> {
    const owned = this.ledger.release(key) ?? (await this.ledger.claimToWrite(key));
    if (owned !== undefined) await this.ledger.complete(owned, value, this.options.ttlMs);
  }

  /** Ends the caller's claim on `key` without caching anything, so the next check is new. */
  async fail(key: string): Promise<void> {
    const owned = this.ledger.release(key);
    if (owned !== undefined) await this.ledger.fail(owned);
  }

  /** `checkAndRegister` for each key, in order (a key listed twice is in progress the second time). */
  async dedupMany<V = unknown>(keys: readonly string[]): Promise<DeduplicationResult<V>[]> {
    const results: DeduplicationResult<V>[] = [];
    for (const key of keys) results.push(await this.checkAndRegister<V>(key));
    return results;
  }

  /**
   * Forgets `key`: its cached result and claim are dropped, and the next call runs again.
   * Callers already sharing an execution still get its result, which is not cached. A claim
   * taken with `checkAndRegister` keeps its token here, so that its `complete` is refused too.
   */
  async forget(key: string): Promise<void> {
    this.engine.forget(key);
    await this.ledger.forget(key);
  }

  /** How many entries (cached results and claims) this deduplicator's namespace holds. */
  async size(): Promise<number> {
    return this.ledger.size();
  }

  // ── The engine behind @Dedupe ───────────────────────────────────────────────────────────

  /**
   * @internal The call's key, computed once per call (an outer layer may have asked first), by
   * the method's own `keyFn`, or as the hash of the arguments when it has none.
   * @throws {InvalidOptionsError} when the default key cannot read an argument in full
   */
  keyOf(call: Call, keyFn: DedupeKeyFn | undefined): string {
    if (call.dedupeKey !== undefined) return call.dedupeKey;
    const key =
      keyFn !== undefined ? keyFn(...call.args) : defaultDedupeKey(call.args, this.scope());
    if (typeof key !== 'string') {
      throw new TypeError(`${this.scope()}: key should return a string, got ${describeValue(key)}`);
    }
    // A stream and a single result under one key are different executions (two methods that
    // share a dedupe name but not a return kind): keep them apart.
    call.dedupeKey = call.stream === true ? `${key}${STREAM_KEY_SUFFIX}` : key;
    return call.dedupeKey;
  }

  /** True when a call with `key` would join a running execution or be served from the cache. */
  answersWithoutExecution(key: string): boolean {
    return this.engine.answersWithoutExecution(key);
  }

  /** Runs `next.promise(call)` once for every concurrent call with `key`. */
  execute(key: string, call: Call, next: Step): Promise<unknown> {
    return this.engine.execute(key, call, next);
  }

  /** A consumer of the one shared execution of `next.stream(call)` for `key`. */
  shareStream(key: string, call: Call, next: Step): AsyncIterator<unknown> {
    return this.engine.shareStream(key, call, next);
  }

  private scope(): string {
    return `dedupe "${this.name}"`;
  }
}
