/**
 * A renewal sent just before its holder's release can land after it: ioredis answers NOSCRIPT by
 * resending the script as EVAL, while the release queued behind it runs at once. The renewal then
 * finds the lease its holder just ended, which is not a lost lease (cluster-failover.spec.ts saw
 * one "lost" lease after its SCRIPT FLUSH). A renewal that runs first and finds its lease gone is
 * still reported, even when the release follows in the same turn (a holder resuming after a
 * pause longer than its lease).
 */
import { dedupeMember } from './dedupe-names.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import {
  RedisBackpressureStore,
  RedisDedupeStore,
  type RedisStoreEvent,
} from '../../lib/redis/index.js';
import type { RedisServerHandle } from '../support/redis/index.js';
import { safeClient, serverTracker, storeTracker, testBackendOptions } from './helpers.js';

const { track, closeAll } = storeTracker();
const servers = serverTracker();
afterAll(() => closeAll());

let server: RedisServerHandle;
let admin: Redis;
beforeAll(async () => {
  server = await servers.start();
  admin = server.client();
});

function withEvents() {
  const events: RedisStoreEvent[] = [];
  const options = testBackendOptions({ onEvent: (event) => events.push(event) });
  const lost = () => events.filter((event) => event.type === 'redis.lease-lost');
  return { options, lost };
}

const noscripts = async () =>
  Number(/^errorstat_NOSCRIPT:count=(\d+)/m.exec(await admin.info('errorstats'))?.[1] ?? 0);

describe('a backpressure renewal overtaken by its own release', () => {
  const config = { capacity: 5, leaseMs: 10_000 };

  async function holderWithRenewalScriptFlushed(name: string) {
    const { options, lost } = withEvents();
    const store = track(new RedisBackpressureStore(safeClient(server), options));
    const held = await store.acquire({ name: name, config: config });
    if (!held.granted) throw new Error('no slot');
    // Both scripts loaded on the connection, then flushed from the server; a release of a slot
    // nobody holds loads the release script again, not the renewal's.
    await store.renew({ name: name, token: held.token, config: config });
    await store.release({ name: name, token: 'nobody' });
    await admin.script('FLUSH');
    await store.release({ name: name, token: 'nobody' });
    return { store, token: held.token, lost };
  }

  it('is not reported as a lost lease', async () => {
    const name = 'race-released';
    const { store, token, lost } = await holderWithRenewalScriptFlushed(name);
    const before = await noscripts();

    // A renewal timer and the end of the holder's work in one event-loop turn.
    const [renewed, depth] = await Promise.all([
      store.renew({ name: name, token: token, config: config }),
      store.release({ name: name, token: token }),
    ]);

    // The renewal met NOSCRIPT, and its resend landed after the release: the slot was gone.
    expect(await noscripts()).toBe(before + 1);
    expect(depth).toBe(0);
    expect(renewed).toBe(false);
    expect(lost()).toEqual([]);
  });

  it('is reported when the renewal ran first and found the lease gone', async () => {
    const name = 'race-in-order';
    const { options, lost } = withEvents();
    const store = track(new RedisBackpressureStore(safeClient(server), options));
    const held = await store.acquire({ name: name, config: config });
    if (!held.granted) throw new Error('no slot');
    await admin.zrem(`test:{bp:${name}}:h`, held.token);

    // No NOSCRIPT: the renewal runs (and is answered) before the release.
    const [renewed] = await Promise.all([
      store.renew({ name: name, token: held.token, config: config }),
      store.release({ name: name, token: held.token }),
    ]);

    expect(renewed).toBe(false);
    expect(lost()).toHaveLength(1);
  });
});

describe('a dedupe renewal overtaken by its own completion', () => {
  const config = { leaseMs: 10_000, maxEntries: 100 };

  it('is not reported as a lost lease', async () => {
    const name = 'race-dedupe';
    const { options, lost } = withEvents();
    const store = track(new RedisDedupeStore(safeClient(server), options));
    const claim = await store.claim({ namespace: name, key: 'k', config: config });
    if (claim.kind !== 'owner') throw new Error('not the owner');
    await store.renew({ namespace: name, key: 'k', token: claim.token, config: config });
    await store.complete({
      namespace: name,
      key: 'other',
      token: 'nobody',
      value: 'v',
      ttlMs: 1000,
      config: config,
    });
    await admin.script('FLUSH');
    await store.complete({
      namespace: name,
      key: 'other',
      token: 'nobody',
      value: 'v',
      ttlMs: 1000,
      config: config,
    });
    const before = await noscripts();

    const [renewed] = await Promise.all([
      store.renew({ namespace: name, key: 'k', token: claim.token, config: config }),
      store.complete({
        namespace: name,
        key: 'k',
        token: claim.token,
        value: 'the value',
        ttlMs: 60_000,
        config: config,
      }),
    ]);

    expect(await noscripts()).toBe(before + 1);
    expect(renewed).toBe(false);
    expect(await admin.get(`test:{dd:${name}}:${dedupeMember('k')}:r`)).not.toBeNull();
    expect(lost()).toEqual([]);
  });
});
