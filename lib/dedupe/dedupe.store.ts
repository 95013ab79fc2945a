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
 * `runLocally`: the owner completed but could not share its result (too large for the store),
 * so the waiters' process runs the call itself, without a claim; otherwise a claim that ended
 * without a result makes the waiters ask for the claim again.
 *
 * @publicApi
 */
export type DedupeSettlement =
  | { readonly completed: true; readonly value: unknown }
  | { readonly completed: false; readonly error?: unknown; readonly runLocally?: boolean };

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
 * The entry an operation is about: a key in a namespace (the dedupe's name).
 *
 * @publicApi
 */
export interface DedupeEntry {
  readonly namespace: string;
  readonly key: string;
}

/**
 * `DedupeStore.claim`'s request.
 *
 * @publicApi
 */
export interface DedupeClaimRequest extends DedupeEntry {
  readonly config: DedupeConfig;
}

/**
 * `DedupeStore.renew`'s request: the claim `token` holds.
 *
 * @publicApi
 */
export interface DedupeRenewRequest extends DedupeClaimRequest {
  readonly token: string;
}

/**
 * `DedupeStore.complete`'s request: end the claim `token` with `value`, cached for `ttlMs`.
 *
 * @publicApi
 */
export interface DedupeCompleteRequest extends DedupeRenewRequest {
  readonly value: unknown;
  /** How long the value is served from the cache, in ms; `0`: not cached. */
  readonly ttlMs: number;
}

/**
 * `DedupeStore.fail`'s request: end the claim `token` without a result.
 *
 * @publicApi
 */
export interface DedupeFailRequest extends DedupeRenewRequest {
  /** The owner's failure, handed to the callers waiting on the claim; absent when abandoned. */
  readonly error?: unknown;
}

/**
 * `DedupeStore.size`'s request.
 *
 * @publicApi
 */
export interface DedupeNamespace {
  readonly namespace: string;
}

/**
 * Where dedupe claims and cached results live, per namespace (the dedupe's name) and key. Each
 * decision is one atomic call, so a Redis store serves it with one script and one round trip:
 * `claim` returns owner, cached value or in-progress at once; `complete` stores the result
 * (first result wins) and releases the claim; a claim is a lease, so a crashed owner's claim
 * lapses after `leaseMs`. Methods may answer synchronously; the engine then adds no microtask hop.
 *
 * Every operation takes one request object, so a field added later never breaks a custom store.
 * What each one must guarantee is in docs/custom-stores/dedupe.md; the shared contract tests
 * (test/contracts/dedupe-store.contract.ts) are the proof.
 *
 * The abstract class is also the Nest injection token:
 * `overrideProvider(DedupeStore).useValue(myStore)`.
 *
 * @publicApi
 */
export abstract class DedupeStore {
  /** Answers with a fresh cached value, a live claim held by someone else, or a new claim. */
  abstract claim(request: DedupeClaimRequest): MaybePromise<DedupeClaim>;

  /**
   * Ends the claim `token` with `value`, cached for `ttlMs` (`0`: not cached) when `token`
   * still holds the claim. A result already cached is kept; a claim held by another token is
   * not released; a claim forgotten while it ran caches nothing (its result may be stale).
   */
  abstract complete(request: DedupeCompleteRequest): MaybePromise<void>;

  /**
   * Ends the claim `token` without a result: failures are never cached. Callers waiting on the
   * claim receive `error` (the owner's failure), when given.
   */
  abstract fail(request: DedupeFailRequest): MaybePromise<void>;

  /** Extends the claim `token` by `leaseMs`; false when it is no longer held (it lapsed). */
  abstract renew(request: DedupeRenewRequest): MaybePromise<boolean>;

  /**
   * Drops the key's cached result and claim, so the next call runs again; a call still running
   * on the dropped claim finishes for its own callers but its result is not cached.
   */
  abstract forget(entry: DedupeEntry): MaybePromise<void>;

  /** How many entries (cached results and claims) the namespace holds. */
  abstract size(request: DedupeNamespace): MaybePromise<number>;

  /**
   * Whether `claim` would answer `cached`, when the store can tell without I/O and without
   * changing anything; `undefined` when it cannot (a remote store). Lets an outer backpressure
   * layer let a cache hit through without taking a slot.
   */
  peekCached(_entry: DedupeEntry): boolean | undefined {
    return undefined;
  }
}
