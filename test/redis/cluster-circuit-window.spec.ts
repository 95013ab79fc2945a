/**
 * Failure-rate windows (issue 17) on a real Redis Cluster: a private 3-master cluster on
 * 127.0.0.1, and two "processes", each its own Cluster client, backend and store, with one
 * breaker of the same name. Neither process's outcomes reach `minimumCalls` alone; when the second
 * one's batch is merged, the fleet's window crosses the threshold and the circuit opens for both
 * (the first learns it from the published transition, with no round trip). Both window scripts
 * (sync, snapshot) touch the circuit's state, probe and window keys in one script: the keys must
 * share the circuit's hash tag, so one node serves them all and no script fails with CROSSSLOT.
 * Every key must carry a TTL.
 *
 * Sync points are placed by hand (`flushWindows`, with a sync interval far longer than a test),
 * so each assertion knows exactly which batches the fleet's window holds. A third process misses
 * the published opening (its subscription is gone): it learns it from the reply to its next merge.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from 'ioredis';
import type { CircuitBreakerOptions } from '../../lib/circuit-breaker/circuit-breaker-options.js';
import { CircuitBreakerPolicy } from '../../lib/circuit-breaker/circuit-breaker.policy.js';
import { CircuitOpenError } from '../../lib/circuit-breaker/circuit-open.error.js';
import type { OrchestratorEvent } from '../../lib/core/events.js';
import {
  RedisBackend,
  RedisCircuitBreakerStore,
  type RedisStoreEvent,
} from '../../lib/redis/index.js';
import {
  keySlot,
  keysWithoutTtl,
  startRedisCluster,
  waitUntil,
  type RedisClusterHandle,
} from '../support/redis/index.js';
import { safeClusterClient, testBackendOptions } from './helpers.js';

const PREFIX = 'cw:';
/** No timer syncs during a test: `flushWindows` decides when batches are merged. */
const NEVER_MS = 600_000;
const BASE: CircuitBreakerOptions = {
  failureRateThreshold: 0.5,
  minimumCalls: 20, // one process's 10 calls stay under it; the fleet's 20 reach it
  recoveryWindowMs: NEVER_MS,
  syncIntervalMs: NEVER_MS,
};
/** 10 calls, 6 of them failing: 60 % failures. */
const FAILURES = 6;
const SUCCESSES = 4;

interface Proc {
  readonly client: Cluster;
  readonly backend: RedisBackend;
  readonly store: RedisCircuitBreakerStore;
  readonly warnings: string[];
  /** Redis errors and degraded-mode switches: a CROSSSLOT reply would be one. */
  readonly incidents: RedisStoreEvent[];
  /** Circuit transitions and store errors reported by this process's breakers. */
  readonly events: OrchestratorEvent[];
  roundTrips: number;
}

let cluster: RedisClusterHandle;
const procs: Proc[] = [];

function startProcess(): Proc {
  const client = safeClusterClient(cluster);
  const incidents: RedisStoreEvent[] = [];
  const options = testBackendOptions({
    keyPrefix: PREFIX,
    operationTimeoutMs: 2000,
    onEvent: (event) => {
      if (event.type === 'redis.error' || event.type === 'redis.degraded') incidents.push(event);
    },
  });
  const backend = new RedisBackend(client, options);
  const proc: Proc = {
    client,
    backend,
    store: new RedisCircuitBreakerStore(backend),
    warnings: options.warnings,
    incidents,
    events: [],
    roundTrips: 0,
  };
  // Every script a store runs goes through `run`: one round trip each.
  const run = backend.run.bind(backend);
  backend.run = (...args) => {
    proc.roundTrips++;
    return run(...args);
  };
  return proc;
}

function breaker(proc: Proc, circuit: string, options: CircuitBreakerOptions) {
  const events = { active: true, emit: (event: OrchestratorEvent) => proc.events.push(event) };
  return new CircuitBreakerPolicy(circuit, options, proc.store, { events });
}

const ok = async () => 'ok';
const fail = () => Promise.reject(new Error('down'));

async function tenCalls(policy: CircuitBreakerPolicy): Promise<void> {
  for (let i = 0; i < FAILURES; i++) await expect(policy.call(fail)).rejects.toThrow('down');
  for (let i = 0; i < SUCCESSES; i++) await expect(policy.call(ok)).resolves.toBe('ok');
}

function openings(proc: Proc, circuit: string): unknown[] {
  return proc.events.flatMap((event) =>
    event.type === 'circuit.state' && event.circuit === circuit && event.to === 'open'
      ? [event.reason]
      : [],
  );
}

/**
 * The circuit's keys on the master that serves its slot: each of `parts` exists there, in that
 * slot, with a TTL.
 */
async function keysOnOneNode(circuit: string, parts: readonly string[]) {
  const keys = parts.map((part) => `${PREFIX}{cb:${circuit}}:${part}`);
  const slots = new Set(keys.map(keySlot));
  const owner = (await cluster.topology()).ownerOf(keySlot(keys[0]));
  const admin = cluster.admin(owner);
  const found = await Promise.all(
    keys.map(async (key) => ({
      key,
      slot: Number(await admin.call('CLUSTER', 'KEYSLOT', key)),
      exists: await admin.exists(key),
      ttlMs: await admin.pttl(key),
    })),
  );
  return { slots, found };
}

/** The transitions channel's subscription of a process is up (SUBSCRIBE acknowledged). */
async function subscribed(proc: Proc): Promise<void> {
  const listener = proc.backend.listen(proc.backend.channel('cb:transitions'), () => undefined);
  await expect(listener.ready).resolves.toBe(true);
  listener.close();
}

/** Simulates a message lost on the way (subscriber reconnecting): the store stops listening. */
function deafen(proc: Proc): void {
  (proc.store as unknown as { listener?: { close(): void } }).listener?.close();
}

async function opensFleetWide(circuit: string, options: CircuitBreakerOptions): Promise<void> {
  const [one, two, deaf] = procs;
  const first = breaker(one, circuit, options);
  const second = breaker(two, circuit, options);
  const third = breaker(deaf, circuit, options);
  await expect(second.call(ok)).resolves.toBe('ok'); // learns the circuit closed, and listens
  await expect(third.call(ok)).resolves.toBe('ok'); // its outcome waits in its batch
  deafen(deaf);

  await tenCalls(first);
  await one.store.flushWindows();
  expect(await first.snapshot()).toMatchObject({
    state: 'closed',
    windowCalls: 10,
    failureRate: 0.6,
  });
  // The window lives beside the circuit's state, in its slot, on the node that serves it.
  const { slots, found } = await keysOnOneNode(circuit, ['st', 'win']);
  expect(slots.size).toBe(1);
  for (const key of found) {
    expect(key).toMatchObject({ slot: [...slots][0], exists: 1 });
    expect(key.ttlMs).toBeGreaterThan(0);
  }

  await tenCalls(second); // with the success above: 11 calls of the second process
  await subscribed(one); // the first process's SUBSCRIBE was sent with its first admission
  const before = one.roundTrips;
  await two.store.flushWindows();

  expect(openings(two, circuit)).toEqual(['failure-rate']);
  await expect(second.call(ok)).rejects.toBeInstanceOf(CircuitOpenError);
  // The first process hears of it from the published transition: no round trip to reject.
  await waitUntil(async () => (await first.admit()).admitted === false, {
    what: 'the first process rejecting',
  });
  expect(one.roundTrips).toBe(before);
  await expect(first.call(ok)).rejects.toBeInstanceOf(CircuitOpenError);
  expect(await first.snapshot()).toMatchObject({ state: 'open' });

  // The deaf process still admits on the closed state it knew, until its next merge's reply.
  await expect(third.call(ok)).resolves.toBe('ok');
  await deaf.store.flushWindows();
  await expect(third.call(ok)).rejects.toBeInstanceOf(CircuitOpenError);
}

describe('failure-rate windows on a 3-master Redis Cluster', () => {
  beforeAll(async () => {
    cluster = await startRedisCluster();
    procs.push(startProcess(), startProcess(), startProcess());
  }, 60_000);

  afterAll(async () => {
    await Promise.all(procs.map((proc) => proc.backend.close()));
    await cluster?.stop();
  });

  it('opens fleet-wide on the merged count window of two processes', async () => {
    await opensFleetWide('search-count', { ...BASE, windowSize: 40 });
  });

  it('opens fleet-wide on the merged time window of two processes', async () => {
    await opensFleetWide('search-time', { ...BASE, windowMs: 60_000 });
  });

  it('ran every script without a Redis error (no CROSSSLOT) and left a TTL on every key', async () => {
    for (const proc of procs) {
      expect(proc.incidents).toEqual([]);
      expect(proc.warnings).toEqual([]);
      expect(proc.events.filter((event) => event.type === 'store.error')).toEqual([]);
    }
    const observer = cluster.client();
    expect(await keysWithoutTtl(observer)).toEqual([]);
    // Both circuits' state keys are still there (the window is dropped as the circuit opens).
    for (const circuit of ['search-count', 'search-time']) {
      const { found } = await keysOnOneNode(circuit, ['st']);
      expect(found[0]).toMatchObject({ exists: 1 });
      expect(found[0].ttlMs).toBeGreaterThan(0);
    }
  });
});
