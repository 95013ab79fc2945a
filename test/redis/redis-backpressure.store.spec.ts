import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { BackpressureGuard } from '../../lib/backpressure/backpressure.policy.js';
import { isBackpressureShedError } from '../../lib/backpressure/backpressure-shed.error.js';
import { RedisBackpressureStore, type RedisStoreEvent } from '../../lib/redis/index.js';
import { keysWithoutTtl, waitUntil, type RedisServerHandle } from '../support/redis/index.js';
import {
  safeClient,
  storeTracker,
  scriptCalls,
  serverTracker,
  testBackendOptions,
} from './helpers.js';

/** Closed after the file even when a test fails half-way. */
const { track, closeAll } = storeTracker();

const servers = serverTracker();

afterAll(() => closeAll());

let counter = 0;
const freshName = (label: string) => `${label}-${++counter}`;

async function shedError(attempt: Promise<unknown>): Promise<unknown> {
  return attempt.then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe('RedisBackpressureStore between processes', () => {
  let server: RedisServerHandle;
  let admin: Redis;
  let a: RedisBackpressureStore;
  let b: RedisBackpressureStore;

  beforeAll(async () => {
    server = await servers.start();
    admin = server.client();
    a = track(new RedisBackpressureStore(safeClient(server), testBackendOptions()));
    b = track(new RedisBackpressureStore(safeClient(server), testBackendOptions()));
  });

  it('shares one cap between processes and costs one round trip per acquire and per release', async () => {
    const name = freshName('shared');
    const inA = new BackpressureGuard({ capacity: 2 }, a, { name });
    const inB = new BackpressureGuard({ capacity: 2 }, b, { name });
    const before = await scriptCalls(admin);

    await inA.tryAcquire();
    await inA.tryAcquire();
    const refused = await shedError(inB.tryAcquire());
    await inA.release();
    await delay(10);
    await inB.tryAcquire();

    expect(isBackpressureShedError(refused)).toBe(true);
    expect(refused).toMatchObject({ depth: 2, capacity: 2 });
    expect(await inB.depth()).toBe(2);
    // 4 acquires (one refused) and 1 release, plus the depth read.
    expect((await scriptCalls(admin)) - before).toBe(6);
    await Promise.all([inA.release(), inB.release()]);
  });

  it('wakes a caller waiting in one process as soon as another process releases', async () => {
    const name = freshName('wake');
    const inA = new BackpressureGuard({ capacity: 1 }, a, { name });
    const inB = new BackpressureGuard({ capacity: 1, maxWaitMs: 3000 }, b, { name });
    const wakeUps: number[] = [];
    for (let i = 0; i < 5; i++) {
      await inA.tryAcquire();
      const waiting = inB.acquire();
      // Released at a random phase of the waiter's 100 ms poll.
      await delay(150 + Math.random() * 100);
      const releasedAt = performance.now();
      await inA.release();
      const permit = await waiting;
      wakeUps.push(performance.now() - releasedAt);
      permit.release();
      await delay(10);
    }

    // The release's notification, not the 100 ms poll, woke the waiter each time.
    expect(Math.max(...wakeUps)).toBeLessThan(40);
  });

  it('keeps a held slot alive past its lease by renewing it', async () => {
    const name = freshName('renewed');
    const inA = new BackpressureGuard({ capacity: 1, leaseMs: 300 }, a, { name });
    const inB = new BackpressureGuard({ capacity: 1, leaseMs: 300 }, b, { name });
    await inA.tryAcquire();

    for (let i = 0; i < 5; i++) {
      await delay(200);
      expect(isBackpressureShedError(await shedError(inB.tryAcquire()))).toBe(true);
    }

    await inA.release();
    await delay(10);
    await inB.tryAcquire();
    await inB.release();
  });

  it('keeps renewing a slot that is handed from caller to caller within one process', async () => {
    const name = freshName('handover');
    // The lease is long enough that a busy machine's event-loop stalls do not lapse it, and the
    // hand-overs go on for 2.5 leases: without renewals across hand-overs, B would get the slot.
    const inA = new BackpressureGuard({ capacity: 1, leaseMs: 1200, maxWaitMs: 3000 }, a, { name });
    const inB = new BackpressureGuard({ capacity: 1, leaseMs: 1200 }, b, { name });
    const until = performance.now() + 2700;
    // Two callers in A: each release hands the same slot (token) straight to the other.
    let holding!: () => void;
    const aHolds = new Promise<void>((resolve) => (holding = resolve));
    const caller = async () => {
      while (performance.now() < until) {
        const permit = await inA.acquire();
        holding();
        await delay(10);
        permit.release();
      }
    };
    const busy = Promise.all([caller(), caller()]);

    // B starts once A holds the slot: before that, B winning the first grant is fair play.
    await aHolds;
    let grantedToB = 0;
    while (performance.now() < until - 50) {
      await inB.tryAcquire().then(
        () => (grantedToB++, inB.release()),
        () => undefined,
      );
      await delay(50);
    }
    await busy;

    expect(grantedToB).toBe(0);
  });

  it('reclaims the slot of a holder that stopped renewing once its lease lapses', async () => {
    const name = freshName('crashed');
    const config = { capacity: 1, leaseMs: 300 };
    expect((await a.acquire({ name, config })).granted).toBe(true);
    const inB = new BackpressureGuard(config, b, { name });

    const started = performance.now();
    while (isBackpressureShedError(await shedError(inB.tryAcquire()))) await delay(10);
    const reclaimedAfterMs = performance.now() - started;

    expect(reclaimedAfterMs).toBeGreaterThan(250);
    expect(reclaimedAfterMs).toBeLessThan(300 + 150);
    await inB.release();
  });

  it('reports a renewal that finds its slot gone and never re-adds it', async () => {
    const name = freshName('lost');
    const events: RedisStoreEvent[] = [];
    const store = track(
      new RedisBackpressureStore(
        safeClient(server),
        testBackendOptions({ onEvent: (e) => events.push(e) }),
      ),
    );
    const config = { capacity: 1, leaseMs: 1000 };
    const slot = await store.acquire({ name, config });
    await admin.zrem(`test:{bp:${name}}:h`, slot.granted ? slot.token : '');

    expect(slot.granted && (await store.renew({ name, token: slot.token, config }))).toBe(false);
    expect(events.filter((e) => e.type === 'redis.lease-lost')).toEqual([
      { type: 'redis.lease-lost', primitive: 'backpressure', name },
    ]);
    expect(await store.depth({ name })).toBe(0);
  });

  it('validates its own options, naming the field', () => {
    const make = (options: object) => () => new RedisBackpressureStore(safeClient(server), options);
    expect(make({ maxPassOverMs: -1 })).toThrow(
      'RedisBackpressureStore: maxPassOverMs should be a number >= 0, got -1',
    );
    expect(make({ replicasHint: 0 })).toThrow(
      'RedisBackpressureStore: replicasHint should be an integer >= 1, got 0',
    );
  });

  it('keeps a freed slot for a process passed over longer than maxPassOverMs, then serves it', async () => {
    const name = freshName('fair');
    const config = { capacity: 1, leaseMs: 5000 };
    const fair = { ...testBackendOptions(), maxPassOverMs: 0 };
    const here = track(new RedisBackpressureStore(safeClient(server), fair));
    const there = track(new RedisBackpressureStore(safeClient(server), fair));
    const held = await here.acquire({ name, config, waiting: true });
    if (!held.granted) throw new Error('expected the slot');
    // A caller that sheds on refusal holds no place: the hand-over goes to this process.
    expect(await there.acquire({ name, config, waiting: false })).toMatchObject({ granted: false });
    const next = await here.handOver({ name, config, waiting: true, token: held.token });
    if (!next.granted) throw new Error('expected the hand-over');

    // A waiting caller of the other process, refused, now holds a place once passed over.
    expect(await there.acquire({ name, config, waiting: true })).toMatchObject({ granted: false });
    await delay(5);
    expect(await here.handOver({ name, config, waiting: true, token: next.token })).toMatchObject({
      granted: false,
      depth: 0,
    });
    expect(await here.acquire({ name, config, waiting: true })).toMatchObject({ granted: false });
    const served = await there.acquire({ name, config, waiting: true });
    expect(served).toMatchObject({ granted: true, depth: 1 });
    // Served, it holds no place any more.
    if (served.granted) await there.release({ name, token: served.token });
    expect(await here.acquire({ name, config })).toMatchObject({ granted: true, depth: 1 });
  });

  it('left a TTL on every key', async () => {
    expect(await keysWithoutTtl(admin)).toEqual([]);
  });
});

describe('RedisBackpressureStore under Redis faults', () => {
  it('takes a slot of the local fallback out of circulation at its first hand-over once Redis answers', async () => {
    const server = await servers.start();
    const options = { ...testBackendOptions({ degradedCooldownMs: 200 }), replicasHint: 2 };
    const store = track(new RedisBackpressureStore(safeClient(server), options));
    const name = freshName('fallback');
    // A local share of 2: the acquire that finds Redis degraded may take one.
    const config = { capacity: 4, leaseMs: 5000 };
    await server.kill();
    while (!store.backend.degraded) await store.acquire({ name, config });
    const local = await store.acquire({ name, config, waiting: true });
    if (!local.granted) throw new Error('expected a local slot');
    expect(local.token).toMatch(/^local:/);
    await server.restart();
    await waitUntil(() => store.backend.available && !store.backend.degraded, {
      timeoutMs: 3000,
      what: 'Redis back',
    });
    await waitUntil(async () => (await store.depth({ name })) === 0, { what: 'depth read' });

    const handed = await store.handOver({ name, config, waiting: true, token: local.token });

    // The waiter's slot is counted by Redis; the local one is gone.
    if (!handed.granted) throw new Error('expected a slot from Redis');
    expect(handed.token).not.toMatch(/^local:/);
    expect(await store.depth({ name })).toBe(1);
    await store.release({ name, token: handed.token });
  });

  it('Redis down: a local share of the cap (capacity / replicasHint), back to the global cap afterwards', async () => {
    const server = await servers.start();
    const options = { ...testBackendOptions({ degradedCooldownMs: 200 }), replicasHint: 2 };
    const store = track(new RedisBackpressureStore(safeClient(server), options));
    const guard = new BackpressureGuard({ capacity: 4 }, store, { name: freshName('down') });
    await server.kill();
    // Until degraded mode (3 failures), a failed acquire is refused: no slot outside the cap.
    const early = [await shedError(guard.tryAcquire()), await shedError(guard.tryAcquire())];
    expect(early.every(isBackpressureShedError)).toBe(true);
    await guard.tryAcquire().then(() => guard.release());
    expect(store.backend.degraded).toBe(true);

    await guard.tryAcquire();
    await guard.tryAcquire();
    expect(isBackpressureShedError(await shedError(guard.tryAcquire()))).toBe(true);
    await guard.release();
    await guard.release();

    await server.restart();
    await delay(300);
    for (let i = 0; i < 4; i++) await guard.tryAcquire();
    expect(await guard.depth()).toBe(4);
  });

  it('failClosed: sheds every call while Redis is unavailable', async () => {
    const server = await servers.start();
    const options = { ...testBackendOptions({ degradedCooldownMs: 60_000 }), failClosed: true };
    const store = track(new RedisBackpressureStore(safeClient(server), options));
    const guard = new BackpressureGuard({ capacity: 4 }, store, { name: freshName('closed') });
    await server.kill();

    const refusals = await Promise.all(
      Array.from({ length: 6 }, () => shedError(guard.tryAcquire())),
    );

    expect(refusals.every(isBackpressureShedError)).toBe(true);
  });

  it('Redis paused under load: every call settles within the bound; no slot is left to a caller who gave up', async () => {
    const server = await servers.start();
    const store = track(
      new RedisBackpressureStore(
        safeClient(server),
        testBackendOptions({ operationTimeoutMs: 400 }),
      ),
    );
    const guard = new BackpressureGuard({ capacity: 50 }, store, { name: freshName('paused') });
    const latencies: number[] = [];
    let stop = false;
    const caller = async () => {
      while (!stop) {
        const started = performance.now();
        await guard.tryAcquire().then(
          () => guard.release(),
          () => undefined,
        );
        latencies.push(performance.now() - started);
        await delay(5);
      }
    };
    const load = Promise.all(Array.from({ length: 10 }, caller));
    await delay(100);

    server.pause();
    await delay(1000);
    server.resume();
    await delay(500);
    stop = true;
    await load;

    expect(latencies.length).toBeGreaterThan(100);
    expect(Math.max(...latencies)).toBeLessThan(400 + 250);
    // Acquires that timed out ran when Redis resumed; their slots (30 s leases) are undone.
    await waitUntil(async () => (await guard.depth()) === 0, { timeoutMs: 1500, what: 'depth 0' });
  });
});

describe('hygiene', () => {
  it('left a TTL on every key, on every server this file started', async () => {
    expect(await servers.keysWithoutTtl()).toEqual([]);
  });
});
