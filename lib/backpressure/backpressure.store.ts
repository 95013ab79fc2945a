import { isPromiseLike, type MaybePromise } from '../core/maybe-promise.js';

/**
 * The part of a guard's options a store needs to decide.
 *
 * @publicApi
 */
export interface BackpressureConfig {
  /** Hard limit of slots held at once. */
  readonly capacity: number;
  /** How long a slot lives unless its holder renews it, in ms (stores that lease slots). */
  readonly leaseMs: number;
}

/**
 * The answer to "may I take a slot?", decided atomically. `depth` is the number of slots held
 * after the decision. A refusal may carry the store's own estimate of when a slot frees (the
 * earliest lease deadline, in a leasing store).
 *
 * @publicApi
 */
export type BackpressureAcquisition =
  | { readonly granted: true; readonly token: string; readonly depth: number }
  | { readonly granted: false; readonly depth: number; readonly retryAfterMs?: number };

/**
 * The operations' arguments: one object each, so a field added later never breaks a store
 * written against an earlier version (it simply does not read it).
 *
 * @publicApi
 */
export interface BackpressureNameRequest {
  /** The guard's name: guards (and processes) sharing a name share its slots. */
  readonly name: string;
}

/** @publicApi */
export interface BackpressureAcquireRequest extends BackpressureNameRequest {
  readonly config: BackpressureConfig;
  /**
   * True when the caller waits for a slot if refused (it will ask again): a store that orders
   * callers across processes may register it. A shedding caller passes false. @default false
   */
  readonly waiting?: boolean;
}

/** @publicApi */
export interface BackpressureSlotRequest extends BackpressureNameRequest {
  /** The slot, as the token of its grant. */
  readonly token: string;
}

/** @publicApi */
export interface BackpressureRenewRequest extends BackpressureSlotRequest {
  readonly config: BackpressureConfig;
}

/**
 * A freed slot offered to a caller waiting in the same process: `token` is the slot being
 * freed, the rest is the waiting caller's acquire.
 *
 * @publicApi
 */
export interface BackpressureHandOverRequest extends BackpressureAcquireRequest {
  readonly token: string;
}

/** @publicApi */
export interface BackpressureWatchRequest extends BackpressureNameRequest {
  readonly listener: () => void;
}

/**
 * Where a guard's slots are counted, per name. Each decision is one atomic call, so a Redis
 * store serves it with one script and one round trip (`acquire`: reclaim lapsed leases, count,
 * grant or refuse; `release`; `renew`; `handOver`). A granted slot is a lease identified by its
 * token, so a crashed holder's slot is reclaimed after `leaseMs`. Methods may answer
 * synchronously; the guard then adds no microtask hop. What each operation must guarantee is
 * written down in docs/custom-stores/backpressure.md.
 *
 * The abstract class is also the Nest injection token:
 * `overrideProvider(BackpressureStore).useValue(myStore)`.
 *
 * @publicApi
 */
export abstract class BackpressureStore {
  /**
   * Whether held slots lapse unless renewed. A guard renews its slots (every `leaseMs / 3`)
   * unless a store says `false`. `false` also promises that every granted slot stays held and
   * counted until it is released (no lapse, no fallback grant the store could not count): the
   * guard then passes a freed slot straight to its oldest waiter, token and all, and calls
   * `handOver` only for stores whose leases expire. @default true
   */
  readonly leasesExpire: boolean = true;

  /** Grants a slot if fewer than `capacity` are held, else refuses. */
  abstract acquire(request: BackpressureAcquireRequest): MaybePromise<BackpressureAcquisition>;

  /** Frees the slot `token` (a slot already freed or lapsed is ignored); answers the new depth. */
  abstract release(request: BackpressureSlotRequest): MaybePromise<number>;

  /** Extends the slot `token` by `leaseMs`; false when it is no longer held (it lapsed). */
  abstract renew(request: BackpressureRenewRequest): MaybePromise<boolean>;

  /** The number of slots held. */
  abstract depth(request: BackpressureNameRequest): MaybePromise<number>;

  /**
   * Frees the slot `token` and decides a new grant for a caller waiting in the same process.
   * A guard over a store whose leases expire never passes a slot on by itself: the slot may
   * have lapsed, or have been granted while the store could not count it (a fallback), and only
   * the store can tell. The freed
   * slot must be freed whatever the answer. This default releases, then acquires; a store
   * that can do both in one atomic step should.
   */
  handOver(request: BackpressureHandOverRequest): MaybePromise<BackpressureAcquisition> {
    const released = this.release(request);
    if (!isPromiseLike(released)) return this.acquire(request);
    return Promise.resolve(released).then(() => this.acquire(request));
  }

  /**
   * Optional, for stores shared between processes: calls `listener` when a slot of `name` is
   * released elsewhere while callers wait, so a guard's waiters ask at once instead of at
   * their next poll. Returns the subscription.
   */
  watchReleases?(request: BackpressureWatchRequest): { close(): void };
}
