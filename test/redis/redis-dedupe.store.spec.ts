import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import {
  CircuitOpenError,
  isCircuitOpenError,
} from '../../lib/circuit-breaker/circuit-open.error.js';
import { EventBus, type OrchestratorEvent } from '../../lib/core/events.js';
import { Chain } from '../../lib/core/layer.js';
import { DedupeLayer } from '../../lib/dedupe/dedupe.layer.js';
import { Deduplicator } from '../../lib/dedupe/deduplicator.js';
import {
  isDedupeSerializationError,
  jsonDedupeSerializer,
  RedisDedupeStore,
  type RedisStoreEvent,
} from '../../lib/redis/index.js';
import { keysWithoutTtl, waitUntil, type RedisServerHandle } from '../support/redis/index.js';
import {
  safeClient,
  storeTracker,
  scriptCalls,
  serverTracker,
  testBackendOptions,
} from './helpers.js';
import { dedupeMember } from './dedupe-names.js';

/** Closed after the file even when a test fails half-way. */
const { track, closeAll } = storeTracker();

const servers = serverTracker();

afterAll(() => closeAll());

let counter = 0;
const freshName = (label: string) => `${label}-${++counter}`;

/** A deduplicated function on `store`, as one process of a fleet would run it. */
function dedupedCall(
  store: RedisDedupeStore,
  name: string,
  work: () => Promise<unknown>,
  options: { ttlMs?: number; leaseMs?: number; events?: EventBus } = {},
) {
  const { ttlMs = 0, leaseMs = 2000, events } = options;
  // The key is the argument itself, so tests can address the Redis keys.
  const deduplicator = new Deduplicator({ ttlMs, leaseMs, key: (k: string) => k }, store, {
    name,
    events,
  });
  const chain = new Chain([new DedupeLayer(deduplicator)], work, 'promise');
  return (key: string) => chain.run(undefined, [key]);
}

describe('RedisDedupeStore between processes', () => {
  let server: RedisServerHandle;
  let admin: Redis;
  let a: RedisDedupeStore;
  let b: RedisDedupeStore;

  beforeAll(async () => {
    server = await servers.start();
    admin = server.client();
    a = track(new RedisDedupeStore(safeClient(server), testBackendOptions()));
    b = track(new RedisDedupeStore(safeClient(server), testBackendOptions()));
  });

  it('runs once for both processes; the waiting one receives the same value', async () => {
    const name = freshName('shared');
    let runs = 0;
    const work = async () => {
      runs++;
      await delay(150);
      return { answer: runs, at: Date.now() };
    };
    const inA = dedupedCall(a, name, work);
    const inB = dedupedCall(b, name, work);

    const first = inA('prompt');
    await delay(20);
    const [fromA, ...fromB] = await Promise.all([
      first,
      inB('prompt'),
      inB('prompt'),
      inB('prompt'),
    ]);

    expect(runs).toBe(1);
    for (const value of fromB) expect(value).toEqual(fromA);
  });

  it("round trips: a waiter pays a claim, a check, one look at the owner's heartbeat and its poll ticks; the value comes with the message", async () => {
    const name = freshName('round-trips');
    let started!: () => void;
    let release!: (value: string) => void;
    const ownerStarted = new Promise<void>((resolve) => (started = resolve));
    const released = new Promise<string>((resolve) => (release = resolve));
    const inA = dedupedCall(a, name, () => (started(), released));
    const inB = dedupedCall(b, name, async () => 'never');
    const owner = inA('k');
    await ownerStarted;
    const beforeWait = await scriptCalls(admin);

    const waiter = inB('k');
    await delay(100);
    const beforeRelease = await scriptCalls(admin);
    release('done');

    expect(await Promise.all([owner, waiter])).toEqual(['done', 'done']);
    // claim + check + the owner's alive key, then a poll tick at ~50 ms (the next one is due at
    // ~150 ms); the alive key is looked at once per heartbeat (1 s), not on every tick.
    expect(beforeRelease - beforeWait).toBe(4);
    // The owner's complete; the waiter reads nothing: the value came in the message.
    expect((await scriptCalls(admin)) - beforeRelease).toBe(1);
  });

  it('holds at most one subscription per key per process, however many callers wait', async () => {
    const name = freshName('one-subscription');
    let release!: (value: string) => void;
    const released = new Promise<string>((resolve) => (release = resolve));
    const owner = dedupedCall(a, name, () => released)('k');
    await delay(20);
    // Two applications in process B (two deduplicators on one store), three callers each.
    const appOne = dedupedCall(b, name, async () => 'never');
    const appTwo = dedupedCall(b, name, async () => 'never');
    const waiting = Promise.all([1, 2, 3].flatMap(() => [appOne('k'), appTwo('k')]));
    await delay(100);

    const [, subscribers] = (await admin.pubsub(
      'NUMSUB',
      `test:dd:${name}:${dedupeMember('k')}`,
    )) as [string, number];
    release('shared');

    expect(Number(subscribers)).toBe(1);
    expect(await waiting).toEqual(Array(6).fill('shared'));
    expect(await owner).toBe('shared');
  });

  it('serves a cached result to another process in one round trip', async () => {
    const name = freshName('cached');
    await dedupedCall(a, name, async () => 'cached-value', { ttlMs: 60_000 })('k');
    const before = await scriptCalls(admin);

    expect(await dedupedCall(b, name, async () => 'other', { ttlMs: 60_000 })('k')).toBe(
      'cached-value',
    );
    expect((await scriptCalls(admin)) - before).toBe(1);
  });

  it("gives the waiting process the owner's error, and frees the key", async () => {
    const name = freshName('failed');
    const inA = dedupedCall(a, name, async () => {
      await delay(100);
      throw Object.assign(new Error('provider down'), { status: 503 });
    });
    let runsInB = 0;
    const inB = dedupedCall(b, name, async () => `b-${++runsInB}`);

    const owner = inA('k');
    await delay(20);
    const waiter = inB('k').catch((error: unknown) => error);

    await expect(owner).rejects.toThrow('provider down');
    expect(await waiter).toMatchObject({ message: 'provider down', status: 503 });
    expect(runsInB).toBe(0);
    expect(await inB('k')).toBe('b-1');
  });

  it("keeps the library's own errors recognisable across processes", async () => {
    const name = freshName('orchestrator-error');
    const inA = dedupedCall(a, name, async () => {
      await delay(100);
      throw new CircuitOpenError('openai', 1234);
    });
    const inB = dedupedCall(b, name, async () => 'b-ran');

    const owner = inA('k').catch((error: unknown) => error);
    await delay(20);
    const waited = await inB('k').catch((error: unknown) => error);

    expect(isCircuitOpenError(await owner)).toBe(true);
    expect(isCircuitOpenError(waited)).toBe(true);
    expect(waited).toMatchObject({ circuit: 'openai', retryAfterMs: 1234 });
  });

  it('a value the serializer cannot represent: the owner still gets it, the waiter a clear error', async () => {
    const name = freshName('bigint');
    const bus = new EventBus();
    const errors: unknown[] = [];
    bus.events$.subscribe(
      (e: OrchestratorEvent) => e.type === 'store.error' && errors.push(e.error),
    );
    const inA = dedupedCall(a, name, async () => (await delay(100), 10n), { events: bus });
    const inB = dedupedCall(b, name, async () => 'b-ran');

    const owner = inA('k');
    await delay(20);
    const waiter = inB('k').catch((error: unknown) => error);

    expect(await owner).toBe(10n);
    expect(isDedupeSerializationError(await waiter)).toBe(true);
    expect(errors).toHaveLength(1);
    expect(isDedupeSerializationError(errors[0])).toBe(true);
    expect((errors[0] as Error).message).toMatch(/bigint.*serializer/);
  });

  it('waiters finish through the poll when pub/sub messages are lost', async () => {
    const name = freshName('lost-messages');
    const deaf = track(new RedisDedupeStore(safeClient(server), testBackendOptions()));
    // Messages never arrive: only the subscribe-then-check and the poll can end the wait.
    deaf.backend.listen = () => ({ ready: Promise.resolve(true), close: () => undefined });
    const inA = dedupedCall(a, name, async () => (await delay(300), 'from-a'));
    const inDeaf = dedupedCall(deaf, name, async () => 'deaf-ran');

    const owner = inA('k');
    await delay(20);
    const started = performance.now();
    const waited = await inDeaf('k');
    const waitedMs = performance.now() - started;

    expect(await owner).toBe('from-a');
    expect(waited).toBe('from-a');
    // Done at ~280 ms; the poll (50, 100, 200, 400 ms...) notices within one interval.
    expect(waitedMs).toBeLessThan(280 + 450);
  });

  it('a crashed owner (its lease never renewed) is taken over by one waiter after the lease', async () => {
    const name = freshName('crashed');
    const config = { leaseMs: 400, maxEntries: 10 };
    const claim = await a.claim({ namespace: name, key: 'k', config });
    expect(claim.kind).toBe('owner');
    let runs = 0;
    const inB = dedupedCall(b, name, async () => `b-${++runs}`, { leaseMs: 400 });

    const started = performance.now();
    const results = await Promise.all([inB('k'), inB('k'), inB('k')]);

    expect(results).toEqual(['b-1', 'b-1', 'b-1']);
    expect(performance.now() - started).toBeGreaterThan(300);
    expect(performance.now() - started).toBeLessThan(400 + 250);
  });

  it('reports a renewal that finds its claim gone, and never re-creates it', async () => {
    const name = freshName('lost-lease');
    const events: RedisStoreEvent[] = [];
    const store = track(
      new RedisDedupeStore(
        safeClient(server),
        testBackendOptions({ onEvent: (e) => events.push(e) }),
      ),
    );
    const config = { leaseMs: 1000, maxEntries: 10 };
    const claim = await store.claim({ namespace: name, key: 'k', config });
    await admin.del(`test:{dd:${name}}:${dedupeMember('k')}:l`);

    expect(
      claim.kind === 'owner' &&
        (await store.renew({ namespace: name, key: 'k', token: claim.token, config })),
    ).toBe(false);
    expect(events.filter((e) => e.type === 'redis.lease-lost')).toHaveLength(1);
    expect(await admin.exists(`test:{dd:${name}}:${dedupeMember('k')}:l`)).toBe(0);
  });

  it('uses a custom serializer', async () => {
    const name = freshName('custom');
    const tagged = {
      serialize: (value: unknown) => `T${jsonDedupeSerializer.serialize(value)}`,
      deserialize: (text: string) => ({ revived: jsonDedupeSerializer.deserialize(text.slice(1)) }),
    };
    const writer = track(
      new RedisDedupeStore(safeClient(server), { ...testBackendOptions(), serializer: tagged }),
    );
    const reader = track(
      new RedisDedupeStore(safeClient(server), { ...testBackendOptions(), serializer: tagged }),
    );
    await dedupedCall(writer, name, async () => [1, 2], { ttlMs: 60_000 })('k');

    expect(await admin.get(`test:{dd:${name}}:${dedupeMember('k')}:r`)).toBe('vTj[1,2]');
    expect(await dedupedCall(reader, name, async () => 'x', { ttlMs: 60_000 })('k')).toEqual({
      revived: [1, 2],
    });
  });

  it("a lapsed owner's late result never overwrites the record of the claim that followed", async () => {
    const ns = freshName('late-record');
    const config = { leaseMs: 200, maxEntries: 100 };
    const late = await a.claim({ namespace: ns, key: 'k', config });
    await delay(config.leaseMs + 50);
    const next = await b.claim({ namespace: ns, key: 'k', config });
    if (late.kind !== 'owner' || next.kind !== 'owner') throw new Error('expected two owners');
    await b.complete({
      namespace: ns,
      key: 'k',
      token: next.token,
      value: 'fresh',
      ttlMs: 0,
      config,
    }); // its waiters read this record

    await a.complete({
      namespace: ns,
      key: 'k',
      token: late.token,
      value: 'stale',
      ttlMs: 0,
      config,
    });

    const record = await admin.get(a.backend.key('dd', ns, `${dedupeMember('k')}:d`));
    expect(record?.startsWith(`${next.token}|`)).toBe(true);
  });

  it('left a TTL on every key', async () => {
    expect(await keysWithoutTtl(admin)).toEqual([]);
  });
});

describe('RedisDedupeStore under Redis faults', () => {
  it('Redis down: calls still dedupe within the process, and Redis is used again once it is back', async () => {
    const server = await servers.start();
    const store = track(
      new RedisDedupeStore(safeClient(server), testBackendOptions({ degradedCooldownMs: 200 })),
    );
    const name = freshName('down');
    let runs = 0;
    const call = dedupedCall(store, name, async () => (await delay(50), ++runs));
    await server.kill();
    await Promise.all([call('warm-1'), call('warm-2'), call('warm-3')]);
    expect(store.backend.degraded).toBe(true);

    const shared = await Promise.all(Array.from({ length: 10 }, () => call('k')));

    expect(new Set(shared).size).toBe(1);
    await server.restart();
    const admin = server.client();
    await waitUntil(
      async () => {
        await call(`probe-${performance.now()}`);
        return (await admin.keys('test:{dd:*')).length > 0;
      },
      { timeoutMs: 3000, what: 'Redis-backed claims again' },
    );
  });

  it('Redis paused: every call settles within the bound, in degraded mode at once', async () => {
    const server = await servers.start();
    const store = track(
      new RedisDedupeStore(safeClient(server), testBackendOptions({ operationTimeoutMs: 400 })),
    );
    const call = dedupedCall(store, freshName('paused'), async () => 'ok');
    await call('warm');

    server.pause();
    const latencies: number[] = [];
    for (let i = 0; i < 8; i++) {
      const started = performance.now();
      expect(await call(`k${i}`)).toBe('ok');
      latencies.push(performance.now() - started);
    }
    server.resume();

    expect(Math.max(...latencies)).toBeLessThan(400 + 250);
    expect(latencies.slice(-3).every((ms) => ms < 20)).toBe(true);
  });
});

describe('hygiene', () => {
  it('left a TTL on every key, on every server this file started', async () => {
    expect(await servers.keysWithoutTtl()).toEqual([]);
  });
});
