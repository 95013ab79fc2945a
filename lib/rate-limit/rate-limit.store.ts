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

/** Count `calls` first attempts into a retry budget's window. */
export interface RetryBudgetDeposit {
  readonly budget: string;
  readonly calls: number;
}

/**
 * Take one retry from a budget: allowed while the retries of the last 10 s stay below
 * `ratio` x the calls of the last 10 s plus `minPerSecond` x 10.
 */
export interface RetryBudgetWithdrawal {
  readonly budget: string;
  readonly ratio: number;
  readonly minPerSecond: number;
}

/** The sliding window of a retry budget, in ms. */
export const RETRY_BUDGET_WINDOW_MS = 10_000;

/**
 * Where rate limiters keep their buckets (and retry budgets their windows). Every operation takes one object (fields may be added
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
  abstract depositRetryBudget(deposit: RetryBudgetDeposit): MaybePromise<void>;
  /** True (and the retry counted) when the budget allows one more retry now. */
  abstract withdrawRetryBudget(withdrawal: RetryBudgetWithdrawal): MaybePromise<boolean>;
}
