import { systemClock, type Clock } from '../core/clock.js';
import { adjustUnits, reserveUnits, unitsAvailable } from './gcra.js';
import {
  RateLimitStore,
  type RateLimitAdjustment,
  type RateLimitConfig,
  type RateLimitCooldown,
  type RateLimitDecision,
  type RateLimitQuery,
  type RateLimitReservation,
  type RateLimitUnits,
  type RetryBudgetDeposit,
  type RetryBudgetWithdrawal,
} from './rate-limit.store.js';
import { SlidingCounts } from './sliding-counts.js';

type Dimension = 'requests' | 'tokens';
const DIMENSIONS: readonly Dimension[] = ['requests', 'tokens'];

interface LimiterState {
  requests: number;
  tokens: number;
  cooldownUntil: number;
}

/**
 * Rate limits of one process: a TAT per dimension per limiter (see gcra.ts). Synchronous, so a
 * decision never yields: it is atomic within the process.
 *
 * @publicApi
 */
export class InMemoryRateLimitStore extends RateLimitStore {
  private readonly limiters = new Map<string, LimiterState>();
  private readonly budgets = new Map<string, SlidingCounts>();

  constructor(private readonly clock: Clock = systemClock) {
    super();
  }

  reserve({ limiter, config, units, maxWaitMs }: RateLimitReservation): RateLimitDecision {
    const now = this.clock.now();
    const state = this.state(limiter);
    const pause = state.cooldownUntil - now;
    if (pause > maxWaitMs)
      return { granted: false, retryAfterMs: Math.ceil(pause), reason: 'cooldown' };
    let delayMs = Math.max(0, pause);
    const next: Partial<Record<Dimension, number>> = {};
    for (const dimension of DIMENSIONS) {
      const bucket = config[dimension];
      const count = units[dimension];
      if (bucket === undefined || count === undefined) continue;
      const reserved = reserveUnits(state[dimension], now, count, bucket);
      next[dimension] = reserved.tat;
      delayMs = Math.max(delayMs, reserved.delayMs);
    }
    if (delayMs > maxWaitMs)
      return { granted: false, retryAfterMs: Math.ceil(delayMs), reason: 'limit' };
    for (const dimension of DIMENSIONS) {
      if (next[dimension] !== undefined) state[dimension] = next[dimension];
    }
    return { granted: true, delayMs };
  }

  adjust({ limiter, config, units }: RateLimitAdjustment): void {
    const now = this.clock.now();
    const state = this.state(limiter);
    for (const dimension of DIMENSIONS) {
      const bucket = config[dimension];
      const count = units[dimension];
      if (bucket === undefined || !count) continue;
      state[dimension] = adjustUnits(state[dimension], now, count, bucket);
    }
  }

  cooldown({ limiter, durationMs }: RateLimitCooldown): void {
    const state = this.state(limiter);
    state.cooldownUntil = Math.max(state.cooldownUntil, this.clock.now() + durationMs);
  }

  available({ limiter, config }: RateLimitQuery): RateLimitUnits {
    const now = this.clock.now();
    const state = this.limiters.get(limiter);
    const paused = state !== undefined && state.cooldownUntil > now;
    const free = (dimension: Dimension, bucket: RateLimitConfig[Dimension]) =>
      bucket === undefined
        ? undefined
        : paused
          ? 0
          : unitsAvailable(state?.[dimension] ?? 0, now, bucket);
    return { requests: free('requests', config.requests), tokens: free('tokens', config.tokens) };
  }

  reset({ limiter }: RateLimitQuery): void {
    this.limiters.delete(limiter);
  }

  depositRetryBudget({ budget, calls }: RetryBudgetDeposit): void {
    this.window(budget).add('calls', calls, this.clock.now());
  }

  withdrawRetryBudget({ budget, ratio, minPerSecond }: RetryBudgetWithdrawal): boolean {
    const now = this.clock.now();
    const window = this.window(budget);
    const { calls, retries } = window.totals(now);
    const allowance = ratio * calls + (minPerSecond * window.windowMs) / 1000;
    if (retries + 1 > allowance) return false;
    window.add('retries', 1, now);
    return true;
  }

  private window(budget: string): SlidingCounts {
    let window = this.budgets.get(budget);
    if (window === undefined) {
      window = new SlidingCounts();
      this.budgets.set(budget, window);
    }
    return window;
  }

  private state(limiter: string): LimiterState {
    let state = this.limiters.get(limiter);
    if (state === undefined) {
      state = { requests: 0, tokens: 0, cooldownUntil: 0 };
      this.limiters.set(limiter, state);
    }
    return state;
  }
}
