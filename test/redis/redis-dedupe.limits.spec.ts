import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { Chain } from '../../lib/core/layer.js';
import { DedupeLayer } from '../../lib/dedupe/dedupe.layer.js';
import { Deduplicator } from '../../lib/dedupe/deduplicator.js';
import {
  jsonDedupeSerializer,
  RedisDedupeStore,
  type DedupeSerializer,
  type RedisDedupeStoreOptions,
  type RedisStoreEvent,
} from '../../lib/redis/index.js';
import { waitUntil, type RedisServerHandle } from '../support/redis/index.js';
import { safeClient, serverTracker, storeTracker, testBackendOptions } from './helpers.js';

const { track, closeAll } = storeTracker();
const servers = serverTracker();
afterAll(() => closeAll());

let counter = 0;
const freshName = (label: string) => `${label}-${++counter}`;

/** A deduplicated function on `store` keyed by its first argument, as one process runs it. */
function dedupedCall(
  store: RedisDedupeStore,
  name: string,
  work: (key: string) => Promise<unknown>,
  ttlMs = 0,
) {
  const deduplicator = new Deduplicator({ ttlMs, leaseMs: 2000, key: (k: string) => k }, store, {
    name,
  });
  const chain = new Chain([new DedupeLayer(deduplicator)], work, 'promise');
  return (key: string) => chain.run(undefined, [key]);
}

/** Every string value in Redis, and every key name, zset member and live channel. */
async function everythingIn(admin: Redis): Promise<string> {
  const parts: string[] = [];
  for (const key of await admin.keys('*')) {
    parts.push(key);
    const type = await admin.type(key);
    if (type === 'string') parts.push((await admin.get(key)) ?? '');
    if (type === 'zset') parts.push(...(await admin.zrange(key, '0', '-1')));
  }
  parts.push(...((await admin.pubsub('CHANNELS')) as string[]));
  return parts.join('\n');
}

describe('RedisDedupeStore: results over maxValueBytes (14.2)', () => {
  const TEN_MB = 10 * 1024 * 1024;
  let server: RedisServerHandle;
  let admin: Redis;
  const events: RedisStoreEvent[] = [];

  beforeAll(async () => {
    server = await servers.start();
    admin = server.client();
  });

  function processStore(options: RedisDedupeStoreOptions = {}): RedisDedupeStore {
    const backend = testBackendOptions({ onEvent: (event) => events.push(event) });
    return track(new RedisDedupeStore(safeClient(server), { ...backend, ...options }));
  }

  it('5 keys x 10 MB over two processes: one execution per key per process, and Redis stays healthy', async () => {
    const a = processStore();
    const b = processStore();
    const name = freshName('huge');
    const runs = { a: 0, b: 0 };
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const work = (process: 'a' | 'b') => async (key: string) => {
      runs[process]++;
      await released;
      return `${key}:${'x'.repeat(TEN_MB)}`;
    };
    const inA = dedupedCall(a, name, work('a'));
    const inB = dedupedCall(b, name, work('b'));
    const keys = ['k1', 'k2', 'k3', 'k4', 'k5'];

    const owners = keys.flatMap((key) => [inA(key), inA(key)]);
    await waitUntil(async () => runs.a === keys.length, { what: 'A owning every key' });
    const waiters = keys.flatMap((key) => [inB(key), inB(key), inB(key)]);
    await delay(100); // B's callers have found A's claims and wait on them
    release();
    const results = (await Promise.all([...owners, ...waiters])) as string[];

    expect(results.map((value) => value.length)).toEqual(
      results.map((value) => value.split(':')[0].length + 1 + TEN_MB),
    );
    expect(runs).toEqual({ a: 5, b: 5 });
    expect(events.filter((e) => e.type === 'redis.degraded')).toEqual([]);
    expect(a.backend.degraded || b.backend.degraded).toBe(false);
    const warnings = events.filter((e) => e.type === 'redis.warning');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ message: expect.stringMatching(/over maxValueBytes/) });
    // Nothing big went to Redis, and nothing was cached.
    expect((await everythingIn(admin)).length).toBeLessThan(100_000);
  });

  it('caches nothing over the bound; a result under it is shared and cached as before', async () => {
    const a = processStore({ maxValueBytes: 1000 });
    const b = processStore({ maxValueBytes: 1000 });
    const name = freshName('bound');
    let runs = 0;
    const work = async (key: string) => (++runs, key === 'big' ? 'y'.repeat(2000) : 'small');

    await dedupedCall(a, name, work, 60_000)('big');
    await dedupedCall(b, name, work, 60_000)('big');
    await dedupedCall(a, name, work, 60_000)('small');
    expect(await dedupedCall(b, name, work, 60_000)('small')).toBe('small');

    expect(runs).toBe(3);
  });

  it('refuses a maxValueBytes that is not a positive integer, naming it', () => {
    expect(() => processStore({ maxValueBytes: 0 })).toThrow(
      'RedisDedupeStore: maxValueBytes should be an integer >= 1, got 0',
    );
  });
});

describe('RedisDedupeStore: what Redis sees of keys and values (14.6)', () => {
  let server: RedisServerHandle;
  let admin: Redis;

  beforeAll(async () => {
    server = await servers.start();
    admin = server.client();
  });

  it('names keys, index members and channels by a hash of the key, never the key itself', async () => {
    const a = track(new RedisDedupeStore(safeClient(server), testBackendOptions()));
    const b = track(new RedisDedupeStore(safeClient(server), testBackendOptions()));
    const prompt = 'Summarise the medical file of patient 4711';
    const name = freshName('private');
    let release!: (value: string) => void;
    const released = new Promise<string>((resolve) => (release = resolve));
    let running = false;
    const owner = dedupedCall(a, name, () => ((running = true), released), 60_000)(prompt);
    await waitUntil(async () => running, { what: 'A running the call' });
    const waiter = dedupedCall(b, name, async () => 'never', 60_000)(prompt);
    await delay(100);

    const whileRunning = await everythingIn(admin); // the claim, the index, B's channel
    release('done');
    expect(await Promise.all([owner, waiter])).toEqual(['done', 'done']);
    const afterwards = await everythingIn(admin);

    expect(whileRunning).toMatch(/dd:/);
    expect(whileRunning).not.toContain('patient');
    expect(afterwards).not.toContain('patient');
  });

  it('stores exactly what the serializer produced: values, and errors handed to waiters', async () => {
    const produced: string[] = [];
    // A stand-in for encryption: reversible, and nothing of the plaintext is left readable.
    const sealed: DedupeSerializer = {
      serialize(value) {
        const text = Buffer.from(jsonDedupeSerializer.serialize(value)).toString('base64');
        produced.push(text);
        return text;
      },
      deserialize: (text) =>
        jsonDedupeSerializer.deserialize(Buffer.from(text, 'base64').toString()),
    };
    const options = { ...testBackendOptions(), serializer: sealed };
    const a = track(new RedisDedupeStore(safeClient(server), options));
    const b = track(new RedisDedupeStore(safeClient(server), options));
    const name = freshName('sealed');

    expect(await dedupedCall(a, name, async () => ({ diagnosis: 'secret' }), 60_000)('k')).toEqual({
      diagnosis: 'secret',
    });
    const stored = await admin.keys(`test:{dd:${name}}:*:r`);
    expect(await admin.get(stored[0])).toBe(`v${produced.at(-1)}`);
    expect(await dedupedCall(b, name, async () => 'other', 60_000)('k')).toEqual({
      diagnosis: 'secret',
    });

    let failingStarted = false;
    const failing = dedupedCall(a, name, async () => {
      failingStarted = true;
      await delay(100);
      throw new Error('secret failure');
    });
    const owner = failing('e').catch((error: unknown) => error);
    await waitUntil(async () => failingStarted, { what: 'A running the failing call' });
    const waited = await dedupedCall(b, name, async () => 'never')('e').catch((e: unknown) => e);
    expect(waited).toMatchObject({ message: 'secret failure' });
    await owner;
    const record = await admin.get((await admin.keys(`test:{dd:${name}}:*:d`))[0]);
    expect(record?.endsWith(`|e${produced.at(-1)}`)).toBe(true);
    expect(await everythingIn(admin)).not.toMatch(/secret/);
  });
});

describe('hygiene', () => {
  it('left a TTL on every key, on every server this file started', async () => {
    expect(await servers.keysWithoutTtl()).toEqual([]);
  });
});
