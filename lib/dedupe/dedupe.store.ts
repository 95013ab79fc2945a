import type { MaybePromise } from '../core/maybe-promise.js';

/**
 * The part of a dedupe's options a store needs to decide.
 *
 * @publicApi
 */
export interface DedupeConfig {
  /** How long a claim lives unless its owner renews it, in ms. */
  readonly leaseMs: number;
  /** Bound of the entries a bounded (in-memory) store keeps per namespace. */
  readonly maxEntries: number;
}

/**
 * How a claim that another owner held ended, as told to the callers waiting on it. `error` is
 * the owner's failure, when it failed (not when its claim lapsed or was forgotten).
 *
 * @publicApi
 */
export type DedupeSettlement =
  | { readonly completed: true; readonly value: unknown }
  | { readonly completed: false; readonly error?: unknown };

/**
 * The answer to "may I run this key?", decided atomically:
 * - `owner`: the caller holds the claim (identified by `token`) and must run, then call
 *   `complete` or `fail`, renewing the claim meanwhile;
 * - `cached`: a completed result is still fresh;
 * - `in-progress`: someone else holds a live claim. `settled`, when the store can tell
 *   (in-memory; Redis through pub/sub), resolves when that claim ends; otherwise the caller
 *   asks again within `leaseRemainingMs`.
 *
 * @publicApi
 */
export type DedupeClaim =
  | { readonly kind: 'owner'; readonly token: string }
  | { readonly kind: 'cached'; readonly value: unknown }
  | {
      readonly kind: 'in-progress';
      readonly leaseRemainingMs: number;
      readonly settled?: Promise<DedupeSettlement>;
    };

/**
 * Where dedupe claims and cached results live, per namespace (the dedupe's name) and key. Each
 * decision is one atomic call, so a Redis store serves it with one script and one round trip:
 * `claim` returns owner, cached value or in-progress at once; `complete` stores the result
 * (first result wins) and releases the claim; a claim is a lease, so a crashed owner's claim
 * lapses after `leaseMs`. Methods may answer synchronously; the engine then adds no microtask hop.
 *
 * The abstract class is also the Nest injection token:
 * `overrideProvider(DedupeStore).useValue(myStore)`.
 *
 * @publicApi
 */
export abstract class DedupeStore {
  /** Answers with a fresh cached value, a live claim held by someone else, or a new claim. */
  abstract claim(namespace: string, key: string, config: DedupeConfig): MaybePromise<DedupeClaim>;

  /**
   * Ends the claim `token` with `value`, cached for `ttlMs` (`0`: not cached) when `token`
   * still holds the claim. A result already cached is kept; a claim held by another token is
   * not released; a claim forgotten while it ran caches nothing (its result may be stale).
   */
  abstract complete(
    namespace: string,
    key: string,
    token: string,
    value: unknown,
    ttlMs: number,
    config: DedupeConfig,
  ): MaybePromise<void>;

  /**
   * Ends the claim `token` without a result: failures are never cached. Callers waiting on the
   * claim receive `error` (the owner's failure), when given.
   */
  abstract fail(namespace: string, key: string, token: string, error?: unknown): MaybePromise<void>;

  /** Extends the claim `token` by `leaseMs`; false when it is no longer held (it lapsed). */
  abstract renew(
    namespace: string,
    key: string,
    token: string,
    config: DedupeConfig,
  ): MaybePromise<boolean>;

  /**
   * Drops the key's cached result and claim, so the next call runs again; a call still running
   * on the dropped claim finishes for its own callers but its result is not cached.
   */
  abstract forget(namespace: string, key: string): MaybePromise<void>;

  /** How many entries (cached results and claims) the namespace holds. */
  abstract size(namespace: string): MaybePromise<number>;

  /**
   * Whether `claim` would answer `cached`, when the store can tell without I/O and without
   * changing anything; `undefined` when it cannot (a remote store). Lets an outer backpressure
   * layer let a cache hit through without taking a slot.
   */
  peekCached(_namespace: string, _key: string): boolean | undefined {
    return undefined;
  }
}
