/**
 * A Redis user without permission on the stores' keys (ACL): every call is refused with NOPERM.
 * The backend must say so once, loudly, with what to fix, and switch to degraded mode at once, so
 * that each store follows its Redis-down rule instead of failing every call with a round trip;
 * a refused decision never ran, so nothing is undone (no replay multiplies the refusals).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { redisStores, type RedisStoreEvent, type RedisStores } from '../../lib/redis/index.js';
import type { RedisServerHandle } from '../support/redis/index.js';
import { SAFE_CLIENT, serverTracker } from './helpers.js';

const servers = serverTracker();
const opened: RedisStores[] = [];
afterAll(async () => {
  await Promise.all(opened.map((stores) => stores.close()));
  const { stopAllRedis } = await import('../support/redis/index.js');
  await stopAllRedis();
});

let server: RedisServerHandle;
let admin: Redis;
beforeAll(async () => {
  server = await servers.start();
  admin = server.client();
  // Every command, but only keys and channels under other:, not the stores' test: prefix.
  await admin.call('ACL', 'SETUSER', 'limited', 'on', '>pw', '~other:*', '+@all');
  // What docs/redis-operations.md asks for.
  await admin.call(
    'ACL',
    ...['SETUSER', 'app', 'on', '>pw', '~test:*', '&test:*', '+@read', '+@write'],
    ...['+@scripting', '+@pubsub', '+@connection', '+time', '+info'],
  );
});

const errorCount = async (code: string) =>
  Number(
    new RegExp(`^errorstat_${code}:count=(\\d+)`, 'm').exec(await admin.info('errorstats'))?.[1] ??
      0,
  );

function storesAs(username: string, failClosed = false) {
  const logged = { error: [] as string[], warn: [] as string[] };
  const events: RedisStoreEvent[] = [];
  const stores = redisStores(server.client({ ...SAFE_CLIENT, username, password: 'pw' }), {
    keyPrefix: 'test:',
    operationTimeoutMs: 400,
    // No recovery probe during a test: every refusal the server counts is a call of the test.
    degradedCooldownMs: 60_000,
    checkClient: false,
    logger: {
      warn: (message) => logged.warn.push(message),
      error: (message) => logged.error.push(message),
    },
    onEvent: (event) => events.push(event),
    backpressure: { replicasHint: 2, failClosed },
  });
  opened.push(stores);
  return { stores, logged, events };
}

const bpConfig = { capacity: 4, leaseMs: 30_000 };
const cbConfig = { threshold: 3, recoveryWindowMs: 1000, halfOpenMaxCalls: 1, probeLeaseMs: 1000 };
const ddConfig = { leaseMs: 5000, maxEntries: 100 };

describe('a Redis user without permission on the keys', () => {
  it('is logged once with what to fix, degrades at once, and each store falls back by its rule', async () => {
    const { stores, logged, events } = storesAs('limited');
    const refusedBefore = await errorCount('NOPERM');

    const grants: boolean[] = [];
    for (let i = 0; i < 20; i++) {
      const acquisition = await stores.backpressure.acquire({ name: 'api', config: bpConfig });
      grants.push(acquisition.granted);
      if (acquisition.granted)
        await stores.backpressure.release({ name: 'api', token: acquisition.token });
    }
    const claim = await stores.dedupe.claim({ namespace: 'prompts', key: 'k', config: ddConfig });
    const admission = await stores.circuitBreaker.admit({ circuit: 'llm', config: cbConfig });
    await new Promise((resolve) => setTimeout(resolve, 300)); // a replay would be due by now

    // Fail-open: the local share of the cap (2 of 4 per process) grants every sequential call.
    expect(grants.every(Boolean)).toBe(true);
    expect(claim).toMatchObject({ kind: 'owner', token: expect.stringMatching(/^local:/) });
    expect(admission).toMatchObject({ admitted: true });
    expect(stores.backend.degraded).toBe(true);
    // One round trip refused; everything after it answered in-process, and nothing replayed.
    expect((await errorCount('NOPERM')) - refusedBefore).toBe(1);
    expect(logged.error).toEqual([
      expect.stringMatching(
        /^Redis refused orchestrator_bp_acquire_\w+ \(NOPERM .*\): the Redis user lacks a permission .*ACL SETUSER <user> ~<keyPrefix>\* &<keyPrefix>\*/,
      ),
    ]);
    expect(events.map((event) => event.type)).toEqual([
      'redis.misconfigured',
      'redis.degraded',
      'redis.error',
    ]);
  });

  it('sheds every call of a failClosed backpressure store, still with one refused round trip', async () => {
    const { stores } = storesAs('limited', true);
    const refusedBefore = await errorCount('NOPERM');

    const answers = [];
    for (let i = 0; i < 5; i++)
      answers.push(await stores.backpressure.acquire({ name: 'api', config: bpConfig }));

    expect(answers.map((answer) => answer.granted)).toEqual([false, false, false, false, false]);
    expect((await errorCount('NOPERM')) - refusedBefore).toBe(1);
  });
});

describe('a Redis user with the permissions docs/redis-operations.md lists', () => {
  it('runs every store without a refusal', async () => {
    const { stores, logged, events } = storesAs('app');

    const slot = await stores.backpressure.acquire({ name: 'api', config: bpConfig });
    if (!slot.granted) throw new Error('no slot');
    expect(
      await stores.backpressure.renew({ name: 'api', token: slot.token, config: bpConfig }),
    ).toBe(true);
    await stores.backpressure.release({ name: 'api', token: slot.token });
    const claim = await stores.dedupe.claim({ namespace: 'prompts', key: 'k', config: ddConfig });
    if (claim.kind !== 'owner') throw new Error('not the owner');
    const waiting = await stores.dedupe.claim({ namespace: 'prompts', key: 'k', config: ddConfig });
    await stores.dedupe.complete({
      namespace: 'prompts',
      key: 'k',
      token: claim.token,
      value: 'v',
      ttlMs: 60_000,
      config: ddConfig,
    });
    const admission = await stores.circuitBreaker.admit({ circuit: 'llm', config: cbConfig });
    await stores.circuitBreaker.force({ circuit: 'llm', config: cbConfig, state: 'open' });

    expect(waiting.kind === 'in-progress' && (await waiting.settled)).toEqual({
      completed: true,
      value: 'v',
    });
    expect(admission.admitted).toBe(true);
    expect(stores.backend.degraded).toBe(false);
    expect(events.filter((event) => event.type !== 'redis.lease-lost')).toEqual([]);
    expect(logged).toEqual({ error: [], warn: [] });
  });
});
