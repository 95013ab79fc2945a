import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { InvalidOptionsError } from '../../lib/core/invalid-options.error.js';
import { RateLimiter } from '../../lib/rate-limit/rate-limiter.js';
import type { RateLimitConfig } from '../../lib/rate-limit/rate-limit.store.js';
import { RedisRateLimitStore, redisStores } from '../../lib/redis/index.js';
import { waitUntil, type RedisServerHandle } from '../support/redis/index.js';
import {
  safeClient,
  scriptCalls,
  serverTracker,
  storeTracker,
  testBackendOptions,
} from './helpers.js';

const { track, closeAll } = storeTracker();
const servers = serverTracker();

afterAll(() => closeAll());

let counter = 0;
const fresh = (label: string) => `${label}-${++counter}`;

const MINUTE = 60_000;
const four: RateLimitConfig = { requests: { limit: 4, intervalMs: MINUTE } };

describe('RedisRateLimitStore between processes', () => {
  let server: RedisServerHandle;
  let admin: Redis;
  let a: RedisRateLimitStore;
  let b: RedisRateLimitStore;

  beforeAll(async () => {
    server = await servers.start();
    admin = server.client();
    a = track(new RedisRateLimitStore(safeClient(server), testBackendOptions()));
    b = track(new RedisRateLimitStore(safeClient(server), testBackendOptions()));
  });

  it('shares one limit between processes, one round trip per operation', async () => {
    const limiter = fresh('shared');
    const reserve = (store: RedisRateLimitStore) =>
      store.reserve({ limiter, config: four, units: { requests: 1 }, maxWaitMs: 0 });
    const before = await scriptCalls(admin);

    const grants = [await reserve(a), await reserve(b), await reserve(a), await reserve(b)];
    const refused = await reserve(a);
    await b.adjust({ limiter, config: four, units: { requests: -1 } });
    await a.cooldown({ limiter, durationMs: 10 });
    await b.available({ limiter, config: four });
    await a.depositRetryBudget({ budget: limiter, calls: 1 });
    await b.withdrawRetryBudget({ budget: limiter, ratio: 1, minPerSecond: 0 });
    await a.reset({ limiter, config: four });

    expect(grants.every((g) => g.granted)).toBe(true);
    expect(refused).toMatchObject({ granted: false, reason: 'limit' });
    expect((await scriptCalls(admin)) - before).toBe(11);
  });

  it('a cooldown from a provider 429 in one process pauses the callers of another', async () => {
    const name = fresh('cooldown');
    const inA = new RateLimiter(name, { requests: { limit: 100, intervalMs: MINUTE } }, a);
    const inB = new RateLimiter(name, { requests: { limit: 100, intervalMs: MINUTE } }, b);
    await inB.acquire([]);

    inA.failed({ status: 429, headers: { 'retry-after': '30' } });
    await waitUntil(async () => (await inB.available()).requests === 0, { what: 'the pause' });

    await expect(inB.acquire([])).rejects.toMatchObject({
      code: 'RATE_LIMITED',
      reason: 'cooldown',
    });
  });

  it('keeps one key per limiter and per budget, in its own hash tag, expiring with its state', async () => {
    const limiter = fresh('keys');
    await a.reserve({ limiter, config: four, units: { requests: 2 }, maxWaitMs: 0 });
    await a.cooldown({ limiter, durationMs: 5000 });
    await a.depositRetryBudget({ budget: limiter, calls: 3 });

    const state = `test:{rl:${limiter}}:s`;
    const budget = `test:{rb:${limiter}}:w`;
    expect(await admin.keys(`test:*${limiter}*`)).toEqual(expect.arrayContaining([state, budget]));
    // Two units of a 4-per-minute bucket: the state equals a fresh one after 30 s (+1 s).
    const stateTtl = await admin.pttl(state);
    expect(stateTtl).toBeGreaterThan(25_000);
    expect(stateTtl).toBeLessThanOrEqual(31_000);
    // The 10 s window (+1 s bucket).
    const budgetTtl = await admin.pttl(budget);
    expect(budgetTtl).toBeGreaterThan(9_000);
    expect(budgetTtl).toBeLessThanOrEqual(11_000);
  });

  it('validates its own options, naming the field', () => {
    expect(() => new RedisRateLimitStore(admin, { replicasHint: 0 })).toThrow(InvalidOptionsError);
    expect(() => new RedisRateLimitStore(admin, { replicasHint: 1.5 })).toThrow(/replicasHint/);
  });

  it('is part of redisStores(), on the shared backend', async () => {
    const stores = redisStores(safeClient(server), {
      ...testBackendOptions(),
      rateLimit: { replicasHint: 3 },
    });
    try {
      expect(stores.rateLimit).toBeInstanceOf(RedisRateLimitStore);
      expect(stores.rateLimit.backend).toBe(stores.backend);
      expect(Object.keys(stores)).toContain('rateLimit');
    } finally {
      await stores.close();
    }
  });
});

describe('RedisRateLimitStore under Redis faults', () => {
  const reserveFrom = (store: RedisRateLimitStore, limiter: string) =>
    store.reserve({ limiter, config: four, units: { requests: 1 }, maxWaitMs: 0 });

  it('Redis down: refuses until degraded mode, then fails open to limit / replicasHint; global again afterwards', async () => {
    const server = await servers.start();
    const options = { ...testBackendOptions({ degradedCooldownMs: 200 }), replicasHint: 2 };
    const store = track(new RedisRateLimitStore(safeClient(server), options));
    const limiter = fresh('down');
    await server.kill();

    // Until degraded mode (3 failures), a failed reservation is refused: nothing outside the limit.
    const early = [await reserveFrom(store, limiter), await reserveFrom(store, limiter)];
    expect(early).toEqual([
      { granted: false, reason: 'limit', retryAfterMs: 400 },
      { granted: false, reason: 'limit', retryAfterMs: 400 },
    ]);
    // The third failure switches to degraded mode and is answered locally.
    const local = [];
    for (let i = 0; i < 3; i++) local.push(await reserveFrom(store, limiter));
    expect(store.backend.degraded).toBe(true);
    expect(local.map((d) => d.granted)).toEqual([true, true, false]);
    expect(await store.available({ limiter, config: four })).toEqual({
      requests: 0,
      tokens: undefined,
    });
    // Retry budgets too: minPerSecond / replicasHint (1 x 10 / 2 = 5 retries).
    const budget = fresh('budget');
    const retries = [];
    for (let i = 0; i < 6; i++) {
      retries.push(await store.withdrawRetryBudget({ budget, ratio: 0, minPerSecond: 1 }));
    }
    expect(retries.filter(Boolean)).toHaveLength(5);

    await server.restart();
    await waitUntil(async () => (await reserveFrom(store, limiter)).granted, {
      timeoutMs: 3000,
      what: 'Redis back',
    });
    expect(store.backend.degraded).toBe(false);
    // The fleet's bucket again (the fresh server's state): 4 in all.
    const global = [];
    for (let i = 0; i < 4; i++) global.push((await reserveFrom(store, limiter)).granted);
    expect(global).toEqual([true, true, true, false]);
  });

  it('keeps a cooldown set during an outage, and one set before it', async () => {
    const server = await servers.start();
    const options = testBackendOptions({ degradedCooldownMs: 60_000 });
    const store = track(new RedisRateLimitStore(safeClient(server), options));
    const before = fresh('before');
    await store.cooldown({ limiter: before, durationMs: 30_000 });
    await server.kill();
    while (!store.backend.degraded) await reserveFrom(store, fresh('trip'));
    const during = fresh('during');
    await store.cooldown({ limiter: during, durationMs: 30_000 });

    expect(await reserveFrom(store, before)).toMatchObject({ granted: false, reason: 'cooldown' });
    expect(await reserveFrom(store, during)).toMatchObject({ granted: false, reason: 'cooldown' });
    expect(await reserveFrom(store, fresh('other'))).toMatchObject({ granted: true });
  });

  it('failClosed: refuses every call and every retry while Redis is unavailable', async () => {
    const server = await servers.start();
    const options = { ...testBackendOptions({ degradedCooldownMs: 60_000 }), failClosed: true };
    const store = track(new RedisRateLimitStore(safeClient(server), options));
    const limiter = fresh('closed');
    await server.kill();

    const decisions = [];
    for (let i = 0; i < 6; i++) decisions.push(await reserveFrom(store, limiter));

    expect(store.backend.degraded).toBe(true);
    expect(decisions.every((d) => !d.granted)).toBe(true);
    expect(await store.withdrawRetryBudget({ budget: limiter, ratio: 1, minPerSecond: 100 })).toBe(
      false,
    );
  });

  it('Redis paused: every reservation settles with a decision, none rejects', async () => {
    const server = await servers.start();
    const store = track(new RedisRateLimitStore(safeClient(server), testBackendOptions()));
    const limiter = fresh('paused');
    server.pause();
    try {
      const decisions = await Promise.all(
        Array.from({ length: 10 }, () => reserveFrom(store, limiter)),
      );
      expect(decisions.every((d) => typeof d.granted === 'boolean')).toBe(true);
    } finally {
      server.resume();
    }
  });
});

describe('hygiene', () => {
  it('left a TTL on every key, on every server this file started', async () => {
    expect(await servers.keysWithoutTtl()).toEqual([]);
  });
});
