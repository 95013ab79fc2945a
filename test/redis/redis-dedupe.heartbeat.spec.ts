import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Redis } from 'ioredis';
import { isInvalidOptionsError } from '../../lib/core/invalid-options.error.js';
import { Chain } from '../../lib/core/layer.js';
import { DedupeLayer } from '../../lib/dedupe/dedupe.layer.js';
import { Deduplicator } from '../../lib/dedupe/deduplicator.js';
import { OwnerLiveness, ownerOf } from '../../lib/redis/process-heartbeat.js';
import { RedisDedupeStore, type RedisDedupeStoreOptions } from '../../lib/redis/index.js';
import {
  keySlot,
  startRedisCluster,
  waitUntil,
  type RedisClusterHandle,
  type RedisServerHandle,
} from '../support/redis/index.js';
import { dedupeMember } from './dedupe-names.js';
import {
  safeClient,
  safeClusterClient,
  serverTracker,
  storeTracker,
  testBackendOptions,
} from './helpers.js';

/*
 * Issue 14, item 4: a crashed dedupe owner is detected within a few heartbeats, not a lease.
 * In one Jest process: a store "crashes" by closing its backend (its heartbeat stops, its claim
 * stays in Redis until its lease lapses), which is what SIGKILL leaves behind; the fleet test
 * (fleet-dedupe-owner-crash.spec.ts) kills a real process.
 */
const { track, closeAll } = storeTracker();
const servers = serverTracker();
afterAll(() => closeAll());

let counter = 0;
const freshName = (label: string) => `${label}-${++counter}`;
const LEASE_MS = 10_000;

function dedupedCall(store: RedisDedupeStore, name: string, work: () => Promise<unknown>) {
  const deduplicator = new Deduplicator(
    { ttlMs: 0, leaseMs: LEASE_MS, key: (k: string) => k },
    store,
    { name },
  );
  const chain = new Chain([new DedupeLayer(deduplicator)], work, 'promise');
  return (key: string) => chain.run(undefined, [key]);
}

/** A promise and its resolver: an execution that runs until the test ends it. */
function gate<T>(): { promise: Promise<T>; open(value: T): void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

describe('RedisDedupeStore: heartbeatMs', () => {
  let server: RedisServerHandle;
  beforeAll(async () => {
    server = await servers.start();
  });

  it.each([0, 99, 150.5, '1000', Number.POSITIVE_INFINITY, 2 ** 31])(
    'refuses %p, naming the field',
    (heartbeatMs) => {
      const make = () =>
        new RedisDedupeStore(safeClient(server), {
          ...testBackendOptions(),
          heartbeatMs: heartbeatMs as number,
        });
      expect(make).toThrow(/^RedisDedupeStore: heartbeatMs should be /);
      try {
        make();
      } catch (error) {
        expect(isInvalidOptionsError(error)).toBe(true);
      }
    },
  );

  it('accepts 100 and leaves the default (1000) in the tokens of its claims', async () => {
    const fast = track(
      new RedisDedupeStore(safeClient(server), { ...testBackendOptions(), heartbeatMs: 100 }),
    );
    const plain = track(new RedisDedupeStore(safeClient(server), testBackendOptions()));
    const config = { leaseMs: 1000, ttlMs: 0 } as never;
    const claims = await Promise.all([
      fast.claim({ namespace: freshName('opt'), key: 'k', config }),
      plain.claim({ namespace: freshName('opt'), key: 'k', config }),
    ]);
    const tokens = claims.map((claim) => (claim.kind === 'owner' ? claim.token : ''));
    expect(tokens.map((token) => ownerOf(token)?.heartbeatMs)).toEqual([100, 1000]);
  });
});

describe('OwnerLiveness: when a waiter judges an owner lost', () => {
  const HEARTBEAT = 1000;
  function liveness(answers: boolean[], reconnected = { just: false }) {
    let now = 0;
    const isAlive = jest.fn(async () => answers.shift() ?? true);
    const judge = new OwnerLiveness(
      HEARTBEAT,
      isAlive,
      () => reconnected.just,
      () => now,
    );
    return { judge, isAlive, at: (ms: number) => ((now = ms), judge.judge()) };
  }

  it('lost only on a second missing look, sent 1.5 heartbeats after the first', async () => {
    const { judge, isAlive, at } = liveness([false, false]);
    expect(await at(0)).toBe('suspect');
    expect(judge.nextLookInMs(50)).toBe(1501);
    // Polls in between (the claim is polled more often than its owner is looked at) tell nothing.
    expect(await at(1000)).toBe('suspect');
    expect(await at(1499)).toBe('suspect');
    expect(isAlive).toHaveBeenCalledTimes(1);
    expect(await at(1500)).toBe('lost');
    expect(isAlive).toHaveBeenCalledTimes(2);
  });

  it('forgives a key that is back on the confirming look (a restart, an eviction)', async () => {
    const { at } = liveness([false, true, false]);
    expect(await at(0)).toBe('suspect');
    expect(await at(1500)).toBe('alive');
    // Missing again later: a new first sighting, not a confirmation of the old one.
    expect(await at(2000)).toBe('suspect');
    expect(await at(3000)).toBe('suspect');
  });

  it('counts no missing key while its own connection has just come back (a restart)', async () => {
    const reconnected = { just: true };
    const { at } = liveness([false, false, false, false], reconnected);
    expect(await at(0)).toBe('alive');
    expect(await at(1500)).toBe('alive');
    reconnected.just = false;
    // The grace is over: a first sighting, then its confirmation.
    expect(await at(3000)).toBe('suspect');
    expect(await at(4500)).toBe('lost');
  });

  it('looks about once per heartbeat however often it is asked, and polls within a heartbeat', async () => {
    const { judge, isAlive, at } = liveness([]);
    for (const ms of [0, 100, 300, 499]) expect(await at(ms)).toBe('alive');
    expect(isAlive).toHaveBeenCalledTimes(1);
    await at(500);
    expect(isAlive).toHaveBeenCalledTimes(2);
    expect(judge.nextLookInMs(50)).toBe(50);
    expect(judge.nextLookInMs(4000)).toBe(HEARTBEAT);
  });

  it('reads the owner and its heartbeat from a claim token; an older token names none', () => {
    expect(ownerOf('0a1b2c3d4e5f.500:7')).toEqual({ processId: '0a1b2c3d4e5f', heartbeatMs: 500 });
    expect(ownerOf('0a1b2c3d4e5f:7')).toBeUndefined();
    expect(ownerOf('0a1b2c3d4e5f.0:7')).toBeUndefined();
  });
});

describe('RedisDedupeStore: a crashed owner is taken over within a few heartbeats', () => {
  const HEARTBEAT_MS = 100;
  let server: RedisServerHandle;
  let admin: Redis;
  const store = (options: RedisDedupeStoreOptions = {}) =>
    track(
      new RedisDedupeStore(safeClient(server), {
        ...testBackendOptions(),
        heartbeatMs: HEARTBEAT_MS,
        ...options,
      }),
    );
  const leaseKey = (name: string, key: string) => `test:{dd:${name}}:${dedupeMember(key)}:l`;

  beforeAll(async () => {
    server = await servers.start();
    admin = server.client();
  });

  it('a waiter takes over once the owner stops heartbeating, long before its lease', async () => {
    const name = freshName('crash');
    const owner = store();
    // Its own poll would wait 5 s between looks: the owner's heartbeat caps it.
    const waiter = store({ pollMinMs: 5000, pollMaxMs: 5000 });
    const stuck = gate<string>();
    void dedupedCall(owner, name, () => stuck.promise)('k').catch(() => undefined);
    await waitUntil(async () => (await admin.exists(leaseKey(name, 'k'))) === 1);

    const started = performance.now();
    const waiting = dedupedCall(waiter, name, async () => 'taken over')('k');
    // The crash: the heartbeat stops and nobody renews or ends the claim.
    await owner.backend.close();

    expect(await waiting).toBe('taken over');
    const tookMs = performance.now() - started;
    // Alive key TTL 3 heartbeats + a poll within 1 + the confirming look 1.5 later: ~550 ms.
    expect(tookMs).toBeLessThan(LEASE_MS / 5);
    console.log(
      `in-process owner crash, heartbeat ${HEARTBEAT_MS} ms: taken over after ${Math.round(tookMs)} ms (lease ${LEASE_MS} ms)`,
    );
    stuck.open('too late');
  });

  it('a live owner keeps its claim through a call of many heartbeats: one execution', async () => {
    const name = freshName('live');
    const [owner, waiter] = [store(), store()];
    let runs = 0;
    const slow = gate<string>();
    const fromOwner = dedupedCall(owner, name, () => (runs++, slow.promise))('k');
    await waitUntil(async () => (await admin.exists(leaseKey(name, 'k'))) === 1);
    const fromWaiter = dedupedCall(waiter, name, async () => (runs++, 'waiter ran'))('k');

    await delay(HEARTBEAT_MS * 12);
    expect(runs).toBe(1);
    slow.open('from owner');

    expect(await Promise.all([fromOwner, fromWaiter])).toEqual(['from owner', 'from owner']);
    expect(runs).toBe(1);
  });

  it('an owner whose alive key vanished (a restart, an eviction) writes it again before it is judged lost', async () => {
    const name = freshName('vanished');
    const [owner, waiter] = [store(), store()];
    let runs = 0;
    const slow = gate<string>();
    const fromOwner = dedupedCall(owner, name, () => (runs++, slow.promise))('k');
    await waitUntil(async () => (await admin.exists(leaseKey(name, 'k'))) === 1);
    const token = (await admin.get(leaseKey(name, 'k')))!;
    const alive = `test:{dd-owner:${ownerOf(token)!.processId}}:alive`;
    const fromWaiter = dedupedCall(waiter, name, async () => (runs++, 'waiter ran'))('k');

    for (let i = 0; i < 5; i++) {
      // Right after a renewal, so that the waiter's looks find it missing before the next one.
      await waitUntil(async () => (await admin.pttl(alive)) > HEARTBEAT_MS * 3 - 30, {
        intervalMs: 2,
      });
      await admin.del(alive);
      await delay(HEARTBEAT_MS * 4);
    }
    expect(runs).toBe(1);
    slow.open('from owner');

    expect(await Promise.all([fromOwner, fromWaiter])).toEqual(['from owner', 'from owner']);
    expect(runs).toBe(1);
  });

  it('an owner writes its alive key again as soon as it reconnects, not a heartbeat later', async () => {
    const owner = store({ heartbeatMs: 60_000 });
    const claim = await owner.claim({
      namespace: freshName('reconnect'),
      key: 'k',
      config: { leaseMs: LEASE_MS, ttlMs: 0 } as never,
    });
    const token = claim.kind === 'owner' ? claim.token : '';
    const alive = `test:{dd-owner:${ownerOf(token)!.processId}}:alive`;
    await waitUntil(async () => (await admin.exists(alive)) === 1);

    // What a restart does to it (the file kept the claims; the alive key lapsed meanwhile).
    await admin.del(alive);
    const id = await (owner.backend.client as Redis).client('ID');
    await admin.client('KILL', 'ID', String(id));

    await waitUntil(async () => (await admin.exists(alive)) === 1, {
      timeoutMs: 3000,
      what: 'the alive key written again on reconnecting',
    });
  });

  it('a claim whose token names no heartbeat (an older version) is bounded by its lease alone', async () => {
    const name = freshName('older');
    const waiter = store();
    await admin.set(leaseKey(name, 'k'), '0a1b2c3d4e5f:1', 'PX', LEASE_MS);
    const fromWaiter = dedupedCall(waiter, name, async () => 'waiter ran')('k');

    await delay(HEARTBEAT_MS * 8);
    expect(await admin.get(leaseKey(name, 'k'))).toBe('0a1b2c3d4e5f:1');
    await admin.del(leaseKey(name, 'k'));
    expect(await fromWaiter).toBe('waiter ran');
  });

  it('left a TTL on every key, the alive keys included', async () => {
    expect((await admin.keys('test:{dd-owner:*')).length).toBeGreaterThan(0);
    expect(await servers.keysWithoutTtl()).toEqual([]);
  });
});

describe('on a 3-master Cluster: the alive key lives in another slot than the claim', () => {
  let cluster: RedisClusterHandle;
  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 60_000);
  afterAll(() => cluster?.stop());

  it('a waiter still takes over a crashed owner, reading the alive key by its own round trip', async () => {
    const clients = [safeClusterClient(cluster), safeClusterClient(cluster)];
    // Without an offline queue, a Cluster client refuses commands until it knows the slots: the
    // first claim would fall back to the process.
    await waitUntil(() => clients.every((client) => client.status === 'ready'));
    const stores = clients.map(
      (client) =>
        new RedisDedupeStore(client, {
          ...testBackendOptions(),
          heartbeatMs: 100,
        }),
    );
    const [owner, waiter] = stores;
    try {
      const name = freshName('cluster');
      const stuck = gate<string>();
      void dedupedCall(owner, name, () => stuck.promise)('k').catch(() => undefined);
      const claimKey = `test:{dd:${name}}:${dedupeMember('k')}:l`;
      const admin = safeClusterClient(cluster);
      await waitUntil(async () => (await admin.exists(claimKey).catch(() => 0)) === 1);
      const token = (await admin.get(claimKey))!;
      const alive = `test:{dd-owner:${ownerOf(token)!.processId}}:alive`;
      // Another node than the claim's: its first write may land just after the claim.
      await waitUntil(async () => (await admin.exists(alive)) === 1);
      // Else one script could have read both: the test would prove nothing about Cluster.
      expect(keySlot(alive)).not.toBe(keySlot(claimKey));

      const waiting = dedupedCall(waiter, name, async () => 'taken over')('k');
      await owner.backend.close();

      expect(await waiting).toBe('taken over');
      admin.disconnect();
      stuck.open('too late');
    } finally {
      await Promise.all(stores.map((store) => store.backend.close()));
      clients.forEach((client) => client.disconnect());
    }
  });
});
