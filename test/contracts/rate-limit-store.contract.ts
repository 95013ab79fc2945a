import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type {
  RateLimitConfig,
  RateLimitDecision,
  RateLimitStore,
  RateLimitUnits,
} from '../../lib/rate-limit/rate-limit.store.js';

/**
 * How a contract run gets its store. `advance` lets at least `ms` of the store's time pass (a
 * fake clock in memory, a real wait on Redis); `destroy` runs once, after the suite.
 */
export interface RateLimitStoreFixture {
  create(): RateLimitStore | Promise<RateLimitStore>;
  advance(ms: number): Promise<void>;
  destroy?(store: RateLimitStore): void | Promise<void>;
}

/**
 * Ten-minute intervals: a unit refills in minutes, so a slow machine (or the server's clock
 * moving on Redis) changes nothing these tests look at, except where they wait on purpose.
 */
const TEN_MINUTES = 600_000;
const requests5: RateLimitConfig = { requests: { limit: 5, intervalMs: TEN_MINUTES } };
const both: RateLimitConfig = {
  requests: { limit: 10, intervalMs: TEN_MINUTES },
  tokens: { limit: 100, intervalMs: TEN_MINUTES },
};
/** How far the store's clock may move during one test without changing its outcome. */
const SLACK_MS = 5_000;

let nameCounter = 0;
const fresh = (label: string) => `contract-${label}-${process.pid}-${++nameCounter}`;

function delayOf(decision: RateLimitDecision): number {
  if (!decision.granted) throw new Error(`expected a grant, got ${JSON.stringify(decision)}`);
  return decision.delayMs;
}

/**
 * The behaviour every `RateLimitStore` shares, so the in-memory and Redis stores are
 * interchangeable: GCRA reservations (burst, FIFO delays, all dimensions or none), charges and
 * refunds, cooldowns, `available`, `reset`, and retry budgets.
 */
export function describeRateLimitStoreContract(
  label: string,
  fixture: RateLimitStoreFixture,
): void {
  describe(`RateLimitStore contract: ${label}`, () => {
    let store: RateLimitStore;

    beforeAll(async () => {
      store = await fixture.create();
    });
    afterAll(async () => {
      if (store !== undefined) await fixture.destroy?.(store);
    });

    const reserve = async (
      limiter: string,
      config: RateLimitConfig,
      units: RateLimitUnits,
      maxWaitMs = 0,
    ) => store.reserve({ limiter, config, units, maxWaitMs });
    const available = async (limiter: string, config: RateLimitConfig) =>
      store.available({ limiter, config });

    it('grants the whole burst at once, then refuses with the time one unit takes to refill', async () => {
      const limiter = fresh('burst');
      const spacing = TEN_MINUTES / 5;
      for (let i = 0; i < 5; i++) {
        expect(await reserve(limiter, requests5, { requests: 1 })).toEqual({
          granted: true,
          delayMs: 0,
        });
      }

      const refused = await reserve(limiter, requests5, { requests: 1 });

      expect(refused).toMatchObject({ granted: false, reason: 'limit' });
      const { retryAfterMs } = refused as { retryAfterMs: number };
      expect(retryAfterMs).toBeLessThanOrEqual(spacing);
      expect(retryAfterMs).toBeGreaterThan(spacing - SLACK_MS);
      expect(Number.isInteger(retryAfterMs)).toBe(true);
      expect(await available(limiter, requests5)).toMatchObject({ requests: 0 });
    });

    it('never grants more than the limit to concurrent reservations', async () => {
      const limiter = fresh('race');

      const decisions = await Promise.all(
        Array.from({ length: 20 }, () => reserve(limiter, requests5, { requests: 1 })),
      );

      expect(decisions.filter((d) => d.granted)).toHaveLength(5);
      expect(decisions.filter((d) => !d.granted && d.reason === 'limit')).toHaveLength(15);
    });

    it('gives waiting reservations starts one spacing apart, in arrival order, within maxWaitMs', async () => {
      const limiter = fresh('fifo');
      const spacing = TEN_MINUTES / 5;
      const delays: number[] = [];
      for (let i = 0; i < 8; i++) {
        delays.push(delayOf(await reserve(limiter, requests5, { requests: 1 }, 3 * spacing)));
      }

      expect(delays.slice(0, 5)).toEqual([0, 0, 0, 0, 0]);
      for (const [k, delay] of delays.slice(5).entries()) {
        expect(delay).toBeLessThanOrEqual((k + 1) * spacing);
        expect(delay).toBeGreaterThan((k + 1) * spacing - SLACK_MS);
      }
      // The next one would start beyond maxWaitMs: refused, and nothing reserved.
      expect(await reserve(limiter, requests5, { requests: 1 }, 3 * spacing)).toMatchObject({
        granted: false,
        reason: 'limit',
      });
      const next = delayOf(await reserve(limiter, requests5, { requests: 1 }, 4 * spacing));
      expect(next).toBeGreaterThan(4 * spacing - SLACK_MS);
    });

    it('keeps a fractional spacing exact (no rounding of the bucket state)', async () => {
      const limiter = fresh('fraction');
      const config: RateLimitConfig = { requests: { limit: 7, intervalMs: TEN_MINUTES } };
      for (let i = 0; i < 7; i++) await reserve(limiter, config, { requests: 1 });

      const delay = delayOf(await reserve(limiter, config, { requests: 1 }, TEN_MINUTES));

      // 8 spacings of 600000 / 7 ms past the first reservation, minus the whole ms since it;
      // a double near 1.7e12 ms holds about 4 decimals (a state rounded to 14 digits, 1).
      const fraction = ((8 * TEN_MINUTES) / 7) % 1;
      expect(delay % 1).toBeCloseTo(fraction, 2);
    });

    it('reserves every dimension or none', async () => {
      const limiter = fresh('all-or-none');
      expect(await reserve(limiter, both, { requests: 1, tokens: 80 })).toEqual({
        granted: true,
        delayMs: 0,
      });

      expect(await reserve(limiter, both, { requests: 1, tokens: 30 })).toMatchObject({
        granted: false,
        reason: 'limit',
      });

      // The refused reservation took no request either.
      expect(await available(limiter, both)).toEqual({ requests: 9, tokens: 20 });
      expect(await reserve(limiter, both, { requests: 1, tokens: 20 })).toMatchObject({
        granted: true,
      });
      expect(await available(limiter, both)).toEqual({ requests: 8, tokens: 0 });
    });

    it('reports only the configured dimensions, full for an unused limiter', async () => {
      const unused = await available(fresh('unused'), requests5);
      expect(unused.requests).toBe(5);
      expect(unused.tokens).toBeUndefined();
      const tokensOnly: RateLimitConfig = { tokens: both.tokens };
      const tokens = await available(fresh('tokens-only'), tokensOnly);
      expect(tokens.requests).toBeUndefined();
      expect(tokens.tokens).toBe(100);
    });

    it('charges extra units, and a refund returns units but never banks credit', async () => {
      const limiter = fresh('adjust');
      await reserve(limiter, both, { requests: 1, tokens: 10 });

      await store.adjust({ limiter, config: both, units: { tokens: 40 } });
      expect(await available(limiter, both)).toEqual({ requests: 9, tokens: 50 });

      await store.adjust({ limiter, config: both, units: { requests: -1, tokens: -500 } });
      expect(await available(limiter, both)).toEqual({ requests: 10, tokens: 100 });
      expect(await reserve(limiter, both, { tokens: 100 })).toEqual({ granted: true, delayMs: 0 });
      expect(await reserve(limiter, both, { tokens: 1 })).toMatchObject({ granted: false });
    });

    it('pauses every caller during a cooldown, which a shorter one never shortens', async () => {
      const limiter = fresh('cooldown');
      const other = fresh('not-cooling');
      await store.cooldown({ limiter, durationMs: 60_000 });
      await store.cooldown({ limiter, durationMs: 10 });

      const refused = await reserve(limiter, requests5, { requests: 1 }, 1000);

      expect(refused).toMatchObject({ granted: false, reason: 'cooldown' });
      const { retryAfterMs } = refused as { retryAfterMs: number };
      expect(retryAfterMs).toBeLessThanOrEqual(60_000);
      expect(retryAfterMs).toBeGreaterThan(60_000 - SLACK_MS);
      expect(await available(limiter, both)).toEqual({ requests: 0, tokens: 0 });
      // A caller that may wait past the pause gets a start after it.
      const delay = delayOf(await reserve(limiter, requests5, { requests: 1 }, 120_000));
      expect(delay).toBeGreaterThan(60_000 - SLACK_MS);
      expect(await reserve(other, requests5, { requests: 1 })).toEqual({
        granted: true,
        delayMs: 0,
      });
    });

    it('forgets usage and cooldown on reset', async () => {
      const limiter = fresh('reset');
      for (let i = 0; i < 5; i++) await reserve(limiter, requests5, { requests: 1 });
      await store.cooldown({ limiter, durationMs: 60_000 });

      await store.reset({ limiter, config: requests5 });

      expect(await available(limiter, requests5)).toMatchObject({ requests: 5 });
      expect(await reserve(limiter, requests5, { requests: 1 })).toEqual({
        granted: true,
        delayMs: 0,
      });
    });

    it('refills as time passes', async () => {
      const limiter = fresh('refill');
      const fast: RateLimitConfig = { requests: { limit: 2, intervalMs: 200 } };
      await reserve(limiter, fast, { requests: 2 });
      expect(await reserve(limiter, fast, { requests: 1 })).toMatchObject({ granted: false });

      await fixture.advance(250);

      expect(await available(limiter, fast)).toMatchObject({ requests: 2 });
      expect(await reserve(limiter, fast, { requests: 2 })).toEqual({
        granted: true,
        delayMs: 0,
      });
    });

    describe('retry budgets', () => {
      const withdraw = async (budget: string, ratio: number, minPerSecond: number) =>
        store.withdrawRetryBudget({ budget, ratio, minPerSecond });

      it('allows retries up to ratio x calls of the window, then refuses', async () => {
        const budget = fresh('budget');
        expect(await withdraw(budget, 0.5, 0)).toBe(false);
        await store.depositRetryBudget({ budget, calls: 6 });
        await store.depositRetryBudget({ budget, calls: 4 });

        const answers = [];
        for (let i = 0; i < 6; i++) answers.push(await withdraw(budget, 0.5, 0));

        expect(answers).toEqual([true, true, true, true, true, false]);
        expect(await withdraw(fresh('other-budget'), 0.5, 0)).toBe(false);
      });

      it('allows minPerSecond x 10 retries without calls', async () => {
        const budget = fresh('floor');
        const answers = [];
        for (let i = 0; i < 4; i++) answers.push(await withdraw(budget, 0.2, 0.3));
        expect(answers).toEqual([true, true, true, false]);
      });

      it('never allows more retries than the budget to concurrent withdrawals', async () => {
        const budget = fresh('budget-race');
        await store.depositRetryBudget({ budget, calls: 10 });

        const answers = await Promise.all(
          Array.from({ length: 20 }, () => withdraw(budget, 0.5, 0)),
        );

        expect(answers.filter(Boolean)).toHaveLength(5);
      });
    });
  });
}
