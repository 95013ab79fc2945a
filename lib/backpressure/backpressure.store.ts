import type { MaybePromise } from '../core/maybe-promise.js';

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
 * Where a guard's slots are counted, per name. Each decision is one atomic call, so a Redis
 * store serves it with one script and one round trip (`acquire`: reclaim lapsed leases, count,
 * grant or refuse; `release`; `renew`). A granted slot is a lease identified by its token, so a
 * crashed holder's slot is reclaimed after `leaseMs`. Methods may answer synchronously; the
 * engine then adds no microtask hop.
 *
 * The abstract class is also the Nest injection token:
 * `overrideProvider(BackpressureStore).useValue(myStore)`.
 *
 * @publicApi
 */
export abstract class BackpressureStore {
  /**
   * Whether held slots lapse unless renewed. A guard renews its slots (every `leaseMs / 3`)
   * unless a store says `false`. @default true
   */
  readonly leasesExpire: boolean = true;

  /** Grants a slot if fewer than `capacity` are held, else refuses. */
  abstract acquire(name: string, config: BackpressureConfig): MaybePromise<BackpressureAcquisition>;

  /** Frees the slot `token` (a slot already freed or lapsed is ignored); answers the new depth. */
  abstract release(name: string, token: string): MaybePromise<number>;

  /** Extends the slot `token` by `leaseMs`; false when it is no longer held (it lapsed). */
  abstract renew(name: string, token: string, config: BackpressureConfig): MaybePromise<boolean>;

  /** The number of slots held. */
  abstract depth(name: string): MaybePromise<number>;

  /**
   * Optional, for stores shared between processes: calls `listener` when a slot of `name` is
   * released elsewhere while callers wait, so a guard's waiters ask at once instead of at
   * their next poll. Returns the subscription.
   */
  watchReleases?(name: string, listener: () => void): { close(): void };
}
