import type { MaybePromise } from '../core/maybe-promise.js';
import type { RateLimitBucket } from './rate-limit-options.js';

/** Units per dimension: a request count and a token count. */
export interface RateLimitUnits {
  readonly requests?: number;
  readonly tokens?: number;
}

/** The limits of one limiter, as a store sees them. */
export interface RateLimitConfig {
  readonly requests?: RateLimitBucket;
  readonly tokens?: RateLimitBucket;
}

/** Reserve `units` for one call, starting within `maxWaitMs`. */
export interface RateLimitReservation {
  readonly limiter: string;
  readonly config: RateLimitConfig;
  readonly units: RateLimitUnits;
  readonly maxWaitMs: number;
}

/** Granted (start after `delayMs`), or refused with when enough capacity frees. */
export type RateLimitDecision =
  | { readonly granted: true; readonly delayMs: number }
  | {
      readonly granted: false;
      readonly retryAfterMs: number;
      readonly reason: 'limit' | 'cooldown';
    };

/** Charge (positive) or return (negative) units after a call settled or left. */
export interface RateLimitAdjustment {
  readonly limiter: string;
  readonly config: RateLimitConfig;
  readonly units: RateLimitUnits;
}

/** Pause every caller of a limiter for `durationMs` (a provider's reset hint). */
export interface RateLimitCooldown {
  readonly limiter: string;
  readonly durationMs: number;
}

export interface RateLimitQuery {
  readonly limiter: string;
  readonly config: RateLimitConfig;
}

/**
 * Where rate limiters keep their buckets. Every operation takes one object (fields may be added
 * later without breaking a custom store). A store must make `reserve` atomic: two concurrent
 * reservations never both get capacity that exists once, across every process sharing it. Time
 * is the store's own (the injected clock in memory, the server's time on Redis).
 *
 * @publicApi
 */
export abstract class RateLimitStore {
  /** Reserves every dimension at once, or nothing (refused, or a wait beyond `maxWaitMs`). */
  abstract reserve(reservation: RateLimitReservation): MaybePromise<RateLimitDecision>;
  abstract adjust(adjustment: RateLimitAdjustment): MaybePromise<void>;
  /** Extends the limiter's pause to at least `durationMs` from now (never shortens it). */
  abstract cooldown(cooldown: RateLimitCooldown): MaybePromise<void>;
  /** Whole units free now in each configured dimension (0 during a cooldown). */
  abstract available(query: RateLimitQuery): MaybePromise<RateLimitUnits>;
  /** Forgets the limiter's usage and cooldown. */
  abstract reset(query: RateLimitQuery): MaybePromise<void>;
}
