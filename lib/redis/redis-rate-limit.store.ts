import type { OnApplicationShutdown } from '@nestjs/common';
import { checkInteger } from '../core/validate.js';
import { InMemoryRateLimitStore } from '../rate-limit/in-memory-rate-limit.store.js';
import type { RateLimitBucket } from '../rate-limit/rate-limit-options.js';
import {
  RETRY_BUDGET_WINDOW_MS,
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
} from '../rate-limit/rate-limit.store.js';
import {
  RB_DEPOSIT,
  RB_WITHDRAW,
  RL_ADJUST,
  RL_AVAILABLE,
  RL_COOLDOWN,
  RL_RESERVE,
  RL_RESET,
} from './lua/rate-limit.lua.js';
import { RedisBackend, type RedisConnectionSpec } from './redis-backend.js';
import type { RedisClient } from './redis-client.js';
import type { RedisBackendOptions } from './redis-options.js';
import type { ScriptArg } from './script-runner.js';

/**
 * Options of `RedisRateLimitStore`. The backend options apply only when the store creates its
 * own backend (it was given a client or a connection spec, not a `RedisBackend`).
 *
 * @publicApi
 */
export interface RedisRateLimitStoreOptions extends RedisBackendOptions {
  /**
   * While Redis is unavailable: `false` limits each process to
   * `max(1, floor(limit / replicasHint))` per interval (and its retry budgets to
   * `minPerSecond / replicasHint`); `true` refuses every call and every retry. @default false
   */
  failClosed?: boolean;
  /** How many processes share a limit; sizes the local limit while Redis is unavailable. @default 1 */
  replicasHint?: number;
}

type ReserveReply = [number, string, string?];

/**
 * Rate limits and retry budgets shared by every process that uses the same Redis and key
 * prefix. Each decision is one Lua script on one hash per limiter (the GCRA of gcra.ts, on the
 * server's clock), so reservations from any number of processes are exact and served in
 * arrival order. While Redis is down or hung each process falls back to a local limiter with
 * its share of the limit (fail open), or refuses (`failClosed`).
 *
 * Round trips: every operation 1.
 *
 * @publicApi
 * @example
 * const store = new RedisRateLimitStore(redis, { replicasHint: 4 });
 * OrchestratorModule.forRoot({ stores: { rateLimit: store } });
 */
export class RedisRateLimitStore extends RateLimitStore implements OnApplicationShutdown {
  readonly backend: RedisBackend;
  private readonly local = new InMemoryRateLimitStore();
  private readonly failClosed: boolean;
  private readonly replicasHint: number;

  constructor(
    client: RedisClient | RedisConnectionSpec | RedisBackend,
    options: RedisRateLimitStoreOptions = {},
  ) {
    super();
    const { failClosed = false, replicasHint = 1, ...rest } = options;
    checkInteger('RedisRateLimitStore: replicasHint', replicasHint, 1);
    this.failClosed = failClosed;
    this.replicasHint = replicasHint;
    this.backend = RedisBackend.of(client, rest);
  }

  /**
   * A reservation whose reply was lost may have been applied: its units stay spent (never
   * refunded, which could hand out capacity someone else took), so the fleet errs below its limit.
   */
  reserve(reservation: RateLimitReservation): Promise<RateLimitDecision> | RateLimitDecision {
    if (!this.backend.available) return this.reserveLocally(reservation);
    const { limiter, config, units, maxWaitMs } = reservation;
    const args = [maxWaitMs, ...bucketArgs(config, units)];
    return this.backend.run(RL_RESERVE, [this.limiterKey(limiter)], args).then(
      (reply) => toDecision(reply as ReserveReply),
      () => this.afterFailure(reservation),
    );
  }

  async adjust({ limiter, config, units }: RateLimitAdjustment): Promise<void> {
    if (!this.backend.available)
      return this.local.adjust({ limiter, config: this.share(config), units });
    await this.backend.run(RL_ADJUST, [this.limiterKey(limiter)], bucketArgs(config, units));
  }

  /** Also kept locally, so a pause survives a Redis outage that starts during it. */
  async cooldown(cooldown: RateLimitCooldown): Promise<void> {
    this.local.cooldown(cooldown);
    if (!this.backend.available) return;
    const args = [Math.max(0, cooldown.durationMs)];
    await this.backend.run(RL_COOLDOWN, [this.limiterKey(cooldown.limiter)], args);
  }

  available(query: RateLimitQuery): Promise<RateLimitUnits> | RateLimitUnits {
    if (!this.backend.available) return this.availableLocally(query);
    const { limiter, config } = query;
    const args = bucketArgs(config, {});
    return this.backend.run(RL_AVAILABLE, [this.limiterKey(limiter)], args).then(
      (reply) => {
        const [requests, tokens] = reply as [number, number];
        return {
          requests: requests < 0 ? undefined : requests,
          tokens: tokens < 0 ? undefined : tokens,
        };
      },
      () => this.availableLocally(query),
    );
  }

  /** Resets the fleet's state and this process's fallback; rejects when Redis is unavailable. */
  async reset(query: RateLimitQuery): Promise<void> {
    this.local.reset(query);
    await this.backend.run(RL_RESET, [this.limiterKey(query.limiter)], []);
  }

  async depositRetryBudget(deposit: RetryBudgetDeposit): Promise<void> {
    if (!this.backend.available) return this.local.depositRetryBudget(deposit);
    const args = [deposit.calls, RETRY_BUDGET_WINDOW_MS];
    await this.backend.run(RB_DEPOSIT, [this.budgetKey(deposit.budget)], args).catch(() => {
      this.local.depositRetryBudget(deposit);
    });
  }

  withdrawRetryBudget(withdrawal: RetryBudgetWithdrawal): Promise<boolean> | boolean {
    if (!this.backend.available) return this.withdrawLocally(withdrawal);
    const { budget, ratio, minPerSecond } = withdrawal;
    const args = [ratio, minPerSecond, RETRY_BUDGET_WINDOW_MS];
    return this.backend.run(RB_WITHDRAW, [this.budgetKey(budget)], args).then(
      (reply) => reply === 1,
      () => (this.backend.degraded ? this.withdrawLocally(withdrawal) : false),
    );
  }

  onApplicationShutdown(): Promise<void> {
    return this.backend.close();
  }

  private limiterKey(limiter: string): string {
    return this.backend.key('rl', limiter, 's');
  }

  private budgetKey(budget: string): string {
    return this.backend.key('rb', budget, 'w');
  }

  /**
   * One failed reservation while Redis still counts as healthy is refused: a local grant on top
   * of the fleet's limit would break it over a single slow reply. Degraded mode falls back locally.
   */
  private afterFailure(reservation: RateLimitReservation): RateLimitDecision {
    if (this.backend.degraded) return this.reserveLocally(reservation);
    return {
      granted: false,
      retryAfterMs: this.backend.options.operationTimeoutMs,
      reason: 'limit',
    };
  }

  /** Redis is unavailable: this process's share of the limit, or nothing (`failClosed`). */
  private reserveLocally(reservation: RateLimitReservation): RateLimitDecision {
    if (this.failClosed) {
      return {
        granted: false,
        retryAfterMs: this.backend.options.degradedCooldownMs,
        reason: 'limit',
      };
    }
    return this.local.reserve({ ...reservation, config: this.share(reservation.config) });
  }

  private availableLocally({ limiter, config }: RateLimitQuery): RateLimitUnits {
    return this.local.available({ limiter, config: this.share(config) });
  }

  private withdrawLocally(withdrawal: RetryBudgetWithdrawal): boolean {
    if (this.failClosed) return false;
    const minPerSecond = withdrawal.minPerSecond / this.replicasHint;
    return this.local.withdrawRetryBudget({ ...withdrawal, minPerSecond });
  }

  /** This process's share of each limit while the fleet cannot coordinate. */
  private share(config: RateLimitConfig): RateLimitConfig {
    const part = (bucket?: RateLimitBucket) =>
      bucket && { ...bucket, limit: Math.max(1, Math.floor(bucket.limit / this.replicasHint)) };
    return { requests: part(config.requests), tokens: part(config.tokens) };
  }
}

/** limit, intervalMs, units per dimension ('' for an absent one), requests first. */
function bucketArgs(config: RateLimitConfig, units: RateLimitUnits): ScriptArg[] {
  return [...bucketOf(config.requests, units.requests), ...bucketOf(config.tokens, units.tokens)];
}

function bucketOf(bucket: RateLimitBucket | undefined, units?: number): ScriptArg[] {
  const unitsArg = units === undefined ? '' : String(units);
  return bucket === undefined ? ['', '', ''] : [bucket.limit, bucket.intervalMs, unitsArg];
}

function toDecision([granted, ms, reason]: ReserveReply): RateLimitDecision {
  if (granted === 1) return { granted: true, delayMs: Number(ms) };
  return {
    granted: false,
    retryAfterMs: Number(ms),
    reason: reason === 'cooldown' ? 'cooldown' : 'limit',
  };
}
