import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { CircuitBreakerPolicy } from '../../lib/circuit-breaker/circuit-breaker.policy.js';
import type {
  AdmittedCall,
  CircuitConfig,
} from '../../lib/circuit-breaker/circuit-breaker.store.js';
import { isPromiseLike } from '../../lib/core/maybe-promise.js';
import {
  RedisCircuitBreakerStore,
  isRedisUnavailableError,
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

const CONFIG: CircuitConfig = {
  threshold: 3,
  recoveryWindowMs: 2000,
  halfOpenMaxCalls: 1,
  probeLeaseMs: 1000,
};

let counter = 0;
const fresh = (label: string) => `${label}-${++counter}`;

/** Closed after the file even when a test fails half-way. */
const { track, closeAll } = storeTracker();

const servers = serverTracker();

afterAll(() => closeAll());

function admitted(admission: unknown): AdmittedCall {
  const a = admission as AdmittedCall;
  if (!a.admitted) throw new Error('expected an admission');
  return a;
}

async function trip(store: RedisCircuitBreakerStore, circuit: string): Promise<void> {
  for (let i = 0; i < CONFIG.threshold; i++) {
    await store.record({
      circuit,
      config: CONFIG,
      admission: admitted(await store.admit({ circuit, config: CONFIG })),
      outcome: 'failure',
    });
  }
}

describe('RedisCircuitBreakerStore on a healthy Redis', () => {
  let server: RedisServerHandle;
  let admin: Redis;
  let a: RedisCircuitBreakerStore;
  let b: RedisCircuitBreakerStore;

  beforeAll(async () => {
    server = await servers.start();
    admin = server.client();
    // Two stores with their own clients: two processes, as far as Redis can tell.
    a = track(new RedisCircuitBreakerStore(safeClient(server), testBackendOptions()));
    b = track(new RedisCircuitBreakerStore(safeClient(server), testBackendOptions()));
  });

  it('costs one round trip per admit and per record, none for an ignored call', async () => {
    const circuit = fresh('round-trips');
    const before = await scriptCalls(admin);

    for (let i = 0; i < 10; i++) {
      await a.record({
        circuit,
        config: CONFIG,
        admission: admitted(await a.admit({ circuit, config: CONFIG })),
        outcome: 'success',
      });
    }
    await a.record({
      circuit,
      config: CONFIG,
      admission: admitted(await a.admit({ circuit, config: CONFIG })),
      outcome: 'ignored',
    });

    expect((await scriptCalls(admin)) - before).toBe(21);
  });

  it('rejects from its local cache while open: no round trip until openUntil', async () => {
    const circuit = fresh('cached');
    await trip(a, circuit);
    const before = await scriptCalls(admin);

    const rejections = Array.from({ length: 100 }, () => a.admit({ circuit, config: CONFIG }));

    expect(rejections.some(isPromiseLike)).toBe(false);
    expect(rejections.every((r) => !(r as { admitted: boolean }).admitted)).toBe(true);
    expect((await scriptCalls(admin)) - before).toBe(0);
  });

  it('shares one state between processes; the other learns a trip through pub/sub', async () => {
    const circuit = fresh('shared');
    await b.record({
      circuit,
      config: CONFIG,
      admission: admitted(await b.admit({ circuit, config: CONFIG })),
      outcome: 'success',
    });

    await trip(a, circuit);
    await waitUntil(() => !isPromiseLike(b.admit({ circuit, config: CONFIG })), {
      timeoutMs: 1000,
      what: 'b caching the trip',
    });

    expect(await b.snapshot({ circuit, config: CONFIG })).toMatchObject({
      state: 'open',
      failures: CONFIG.threshold,
    });
    expect(b.admit({ circuit, config: CONFIG })).toMatchObject({ admitted: false });
  });

  it('drops the cached open circuit when another process closes it', async () => {
    const circuit = fresh('closed-elsewhere');
    await trip(a, circuit);
    expect(b.admit({ circuit, config: CONFIG })).toBeInstanceOf(Promise);
    expect(await b.admit({ circuit, config: CONFIG })).toMatchObject({ admitted: false });
    expect(isPromiseLike(b.admit({ circuit, config: CONFIG }))).toBe(false);

    await a.force({ circuit, config: CONFIG, state: 'closed' });

    await waitUntil(async () => (await b.admit({ circuit, config: CONFIG })).admitted, {
      timeoutMs: 1000,
      what: 'b admitting',
    });
  });

  it('never lets a late open message from an earlier epoch reopen a circuit it saw close', async () => {
    // Replies and pub/sub travel on different connections: the message announcing a forced open
    // can arrive after the reply of the force that closed it again (seen on Redis Cluster).
    const circuit = fresh('late-open');
    await a.force({ circuit, config: CONFIG, state: 'open' });
    const { epoch } = await a.snapshot({ circuit, config: CONFIG });
    await a.force({ circuit, config: CONFIG, state: 'closed' });
    const [seconds] = await admin.time();
    const now = Number(seconds) * 1000;
    const channel = a.backend.channel('cb:transitions');
    const openMessage = (name: string, e: number) => `o|${e}|${now + 60_000}|${now}|${name}`;
    const subscribed = fresh('subscribed');
    await waitUntil(
      async () => {
        await admin.publish(channel, openMessage(subscribed, 1));
        return !isPromiseLike(a.admit({ circuit: subscribed, config: CONFIG }));
      },
      { timeoutMs: 1000, what: 'the store listening for transitions' },
    );
    const sentinel = fresh('sentinel');

    await admin.publish(channel, openMessage(circuit, epoch));
    // Messages on one channel arrive in order: once the sentinel is cached, so was the late one.
    await admin.publish(channel, openMessage(sentinel, 1));
    await waitUntil(() => !isPromiseLike(a.admit({ circuit: sentinel, config: CONFIG })), {
      timeoutMs: 1000,
      what: 'the sentinel message',
    });

    expect(await a.admit({ circuit, config: CONFIG })).toMatchObject({ admitted: true });
  });

  it('ignores a stale outcome reported by another process', async () => {
    const circuit = fresh('stale-elsewhere');
    const late = admitted(await b.admit({ circuit, config: CONFIG }));
    await trip(a, circuit);
    await a.force({ circuit, config: CONFIG, state: 'closed' });
    const before = await a.snapshot({ circuit, config: CONFIG });

    for (let i = 0; i < CONFIG.threshold; i++)
      await b.record({ circuit, config: CONFIG, admission: late, outcome: 'failure' });

    expect(await a.snapshot({ circuit, config: CONFIG })).toEqual(before);
  });

  it('holds a forced open fleet-wide, past the window and every cache, until forced closed', async () => {
    const config: CircuitConfig = { ...CONFIG, recoveryWindowMs: 200 };
    const circuit = fresh('held');
    await a.force({ circuit, config, state: 'open' });
    expect((await b.admit({ circuit, config })).admitted).toBe(false);

    await delay(3 * config.recoveryWindowMs); // b's cached refusal has lapsed: it asks Redis

    expect((await b.admit({ circuit, config })).admitted).toBe(false);
    expect(await b.snapshot({ circuit, config })).toMatchObject({ state: 'open', forced: true });
    await a.force({ circuit, config, state: 'closed' });
    await waitUntil(async () => (await b.admit({ circuit, config })).admitted, {
      timeoutMs: 1000,
      what: 'b admitting once the circuit is forced closed',
    });
  });

  it("reports open -> half-open once: by the opener's timer, not again in another admission", async () => {
    const config: CircuitConfig = { ...CONFIG, recoveryWindowMs: 200 };
    const circuit = fresh('timer');
    const heard: unknown[] = [];
    for (let i = 0; i < config.threshold; i++) {
      const admission = admitted(await a.admit({ circuit, config }));
      const onTransition = (t: unknown) => heard.push(t);
      await a.record({ circuit, config, admission, outcome: 'failure', onTransition });
    }

    await waitUntil(() => heard.length > 0, { timeoutMs: 3000, what: 'the timer transition' });

    expect(heard).toEqual([expect.objectContaining({ from: 'open', to: 'half-open' })]);
    const probe = await b.admit({ circuit, config });
    expect(probe).toMatchObject({ admitted: true, probe: true });
    expect(probe.transition).toBeUndefined();
  });

  it('keeps both keys of a circuit under one hash tag and the prefix', async () => {
    const circuit = fresh('tagged');
    await trip(a, circuit);
    await delay(CONFIG.recoveryWindowMs + 50);
    admitted(await a.admit({ circuit, config: CONFIG }));

    expect((await admin.keys(`test:{cb:${circuit}}:*`)).sort()).toEqual([
      `test:{cb:${circuit}}:probe`,
      `test:{cb:${circuit}}:st`,
    ]);
  });

  it('reloads its scripts after SCRIPT FLUSH (NOSCRIPT, then EVAL)', async () => {
    const circuit = fresh('noscript');
    await a.admit({ circuit, config: CONFIG });
    const evalsBefore = Number(
      /cmdstat_eval:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1] ?? 0,
    );

    await admin.script('FLUSH');
    const admission = await a.admit({ circuit, config: CONFIG });

    expect(admission.admitted).toBe(true);
    expect(a.backend.degraded).toBe(false);
    const evalsAfter = Number(
      /cmdstat_eval:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1],
    );
    expect(evalsAfter).toBe(evalsBefore + 1);
  });

  it('left a TTL on every key', async () => {
    expect(await keysWithoutTtl(admin)).toEqual([]);
  });
});

describe('RedisCircuitBreakerStore under Redis faults', () => {
  it('SIGSTOP under load: every call settles within the bound, then degraded mode costs no round trip, then it recovers', async () => {
    const server = await servers.start();
    const events: RedisStoreEvent[] = [];
    const options = testBackendOptions({
      operationTimeoutMs: 400,
      degradedCooldownMs: 500,
      onEvent: (e) => events.push(e),
    });
    const store = track(new RedisCircuitBreakerStore(safeClient(server), options));
    const policy = new CircuitBreakerPolicy(fresh('paused'), CONFIG, store);
    await policy.call(async () => 'warm');
    const latencies: number[] = [];
    let stop = false;
    const caller = async () => {
      while (!stop) {
        const started = performance.now();
        await policy.call(async () => 'ok').catch(() => undefined);
        latencies.push(performance.now() - started);
        await delay(5);
      }
    };

    server.pause();
    const load = Promise.all(Array.from({ length: 20 }, caller));
    await waitUntil(() => store.backend.degraded, { timeoutMs: 2000, what: 'degraded mode' });
    expect(isPromiseLike(store.admit({ circuit: 'other', config: CONFIG }))).toBe(false);
    await delay(1200);
    server.resume();
    const resumedAt = performance.now();
    await waitUntil(() => !store.backend.degraded, { timeoutMs: 3000, what: 'recovery' });
    const recoveryMs = performance.now() - resumedAt;
    stop = true;
    await load;

    expect(Math.max(...latencies)).toBeLessThan(400 + 250);
    expect(events.map((e) => e.type).filter((t) => t !== 'redis.error')).toEqual([
      'redis.degraded',
      'redis.recovered',
    ]);
    expect(recoveryMs).toBeLessThan(500 + 400 + 200);
    expect(await policy.call(async () => 'after')).toBe('after');
    console.log(
      `SIGSTOP: ${latencies.length} calls, max latency ${Math.round(Math.max(...latencies))} ms, recovered ${Math.round(recoveryMs)} ms after SIGCONT`,
    );
  });

  it('degraded mode falls back to a local breaker that still opens', async () => {
    const server = await servers.start();
    const store = track(
      new RedisCircuitBreakerStore(
        safeClient(server),
        testBackendOptions({ degradedCooldownMs: 60_000 }),
      ),
    );
    const circuit = fresh('local');
    await server.kill();
    for (let i = 0; i < 3; i++) await store.admit({ circuit, config: CONFIG });
    expect(store.backend.degraded).toBe(true);

    for (let i = 0; i < CONFIG.threshold; i++) {
      const admission = store.admit({ circuit, config: CONFIG });
      expect(isPromiseLike(admission)).toBe(false);
      store.record({ circuit, config: CONFIG, admission: admitted(admission), outcome: 'failure' });
    }

    expect(store.admit({ circuit, config: CONFIG })).toMatchObject({ admitted: false });
    const forced = await store
      .force({ circuit, config: CONFIG, state: 'closed' })
      .catch((error: unknown) => error);
    expect(isRedisUnavailableError(forced)).toBe(true);
    await store.backend.close();
  });

  it("frees a probe's slot in Redis once Redis answers again when its outcome was recorded in degraded mode", async () => {
    const server = await servers.start();
    const options = testBackendOptions({ degradedCooldownMs: 200 });
    const store = track(new RedisCircuitBreakerStore(safeClient(server), options));
    const probing: CircuitConfig = { ...CONFIG, recoveryWindowMs: 0, probeLeaseMs: 60_000 };
    const circuit = fresh('probe-degraded');
    for (let i = 0; i < probing.threshold; i++) {
      const admission = admitted(await store.admit({ circuit, config: probing }));
      await store.record({ circuit, config: probing, admission, outcome: 'failure' });
    }
    const probe = admitted(await store.admit({ circuit, config: probing }));
    expect(probe.probe).toBe(true);
    expect(await store.admit({ circuit, config: probing })).toMatchObject({ admitted: false }); // slot taken

    const probes = store.backend.key('cb', circuit, 'probe');
    const client = server.client();
    expect(await client.zcard(probes)).toBe(1);

    server.pause();
    for (let i = 0; i < 3; i++) await store.snapshot({ circuit, config: probing });
    expect(store.backend.degraded).toBe(true);
    store.record({ circuit, config: probing, admission: probe, outcome: 'ignored' }); // refused: recorded locally, release queued
    server.resume();
    // Nothing else is called: the queued release itself brings the store back to Redis.
    await waitUntil(async () => (await client.zcard(probes)) === 0, {
      timeoutMs: 2000,
      what: "the probe's slot to be freed in Redis",
    });

    expect(store.backend.degraded).toBe(false);
    expect(await store.admit({ circuit, config: probing })).toMatchObject({
      admitted: true,
      probe: true,
    });
  });

  it('Redis killed and restarted: scripts reloaded, state recreated with a new epoch, old outcomes stale', async () => {
    const server = await servers.start();
    const store = track(
      new RedisCircuitBreakerStore(
        safeClient(server),
        testBackendOptions({ degradedCooldownMs: 200 }),
      ),
    );
    const circuit = fresh('restart');
    const before = admitted(await store.admit({ circuit, config: CONFIG }));
    await store.record({
      circuit,
      config: CONFIG,
      admission: admitted(await store.admit({ circuit, config: CONFIG })),
      outcome: 'failure',
    });

    await server.kill();
    await store.admit({ circuit, config: CONFIG });
    await server.restart();
    const admin = server.client();
    await waitUntil(
      async () => {
        await store.admit({ circuit, config: CONFIG });
        return (await admin.exists(`test:{cb:${circuit}}:st`)) === 1;
      },
      { timeoutMs: 3000, what: 'the state recreated in Redis' },
    );

    const snapshot = await store.snapshot({ circuit, config: CONFIG });
    expect(snapshot).toMatchObject({ state: 'closed', failures: 0 });
    expect(snapshot.epoch).toBeGreaterThan(before.epoch);
    expect(
      await store.record({ circuit, config: CONFIG, admission: before, outcome: 'failure' }),
    ).toBeUndefined();
    expect((await store.snapshot({ circuit, config: CONFIG })).failures).toBe(0);
    expect(await keysWithoutTtl(admin)).toEqual([]);
  });

  it('a killed pub/sub connection re-subscribes: later trips still reach other processes', async () => {
    const server = await servers.start();
    const admin = server.client();
    const a = track(new RedisCircuitBreakerStore(safeClient(server), testBackendOptions()));
    const b = track(new RedisCircuitBreakerStore(safeClient(server), testBackendOptions()));
    const circuit = fresh('pubsub');
    await b.admit({ circuit, config: CONFIG });
    await waitUntil(
      async () =>
        Number(await admin.pubsub('NUMSUB', 'test:cb:transitions').then((r) => r[1])) === 1,
    );

    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await waitUntil(
      async () =>
        Number(await admin.pubsub('NUMSUB', 'test:cb:transitions').then((r) => r[1])) === 1,
      {
        what: 're-subscription',
      },
    );
    await trip(a, circuit);

    await waitUntil(() => !isPromiseLike(b.admit({ circuit, config: CONFIG })), {
      timeoutMs: 1000,
      what: 'b learning the trip',
    });
  });
});

describe('hygiene', () => {
  it('left a TTL on every key, on every server this file started', async () => {
    expect(await servers.keysWithoutTtl()).toEqual([]);
  });
});
