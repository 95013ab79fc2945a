import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import {
  keysWithoutTtl,
  startRedis,
  stopAllRedis,
  waitUntil,
  type RedisServerHandle,
} from '../support/redis/index.js';
import { startFleet, type Connection, type Fleet, type FleetWorker } from './fleet.js';

const WORKER = new URL('./workers/backpressure-worker.ts', import.meta.url);
const WORKERS = 4;
const CAPACITY = 5;
const LEASE_MS = 900;
const OPERATION_TIMEOUT_MS = 400;
const TEN_MINUTES = 10 * 60_000;

/** The observer: workers report entering and leaving their critical section, and wait for it. */
const observer = { current: 0, max: 0 };
const observe = (_worker: FleetWorker, report: any) => {
  if (report.type === 'enter') observer.max = Math.max(observer.max, ++observer.current);
  if (report.type === 'exit') observer.current--;
};
function resetObserver(): void {
  observer.max = observer.current;
}

let nameCounter = 0;
const freshName = (label: string) => `${label}-${++nameCounter}`;

function inits(connection: Connection, skews: number[] = []) {
  return Array.from({ length: WORKERS }, (_, i) => ({
    connection,
    keyPrefix: 'fleet:',
    skewMs: skews[i] ?? 0,
    capacity: CAPACITY,
    leaseMs: LEASE_MS,
    replicasHint: WORKERS,
    operationTimeoutMs: OPERATION_TIMEOUT_MS,
  }));
}

type LoadResult = { granted: number; shed: number; slowestMs: number };

function load(
  fleet: Fleet,
  name: string,
  durationMs: number,
  maxWaitMs = 0,
): Promise<LoadResult[]> {
  return Promise.all(
    fleet.workers.map((w) => w.request('load', { name, callers: 6, durationMs, maxWaitMs })),
  );
}

/** T1: the fleet-wide cap is never exceeded, as counted by the observer, and is reached. */
async function capHolds(fleet: Fleet, maxWaitMs: number): Promise<void> {
  resetObserver();
  const results = await load(fleet, freshName('cap'), 1500, maxWaitMs);

  expect(observer.max).toBe(CAPACITY);
  expect(results.reduce((sum, r) => sum + r.granted, 0)).toBeGreaterThan(100);
  expect(results.every((r) => r.granted > 0)).toBe(true);
}

describe('backpressure across a fleet of processes', () => {
  let server: RedisServerHandle;
  let admin: Redis;
  let fleet: Fleet;
  let skewed: Fleet;

  beforeAll(async () => {
    server = await startRedis();
    admin = server.client();
    const connection: Connection = { mode: 'standalone', port: server.port };
    [fleet, skewed] = await Promise.all([
      startFleet(WORKER, inits(connection), observe),
      startFleet(WORKER, inits(connection, [TEN_MINUTES, 0, -TEN_MINUTES, 0]), observe),
    ]);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([fleet?.stop(), skewed?.stop()]);
    await stopAllRedis();
  });

  it('never exceeds the cap across 4 processes x 6 callers (shedding callers)', async () => {
    await capHolds(fleet, 0);
  });

  it('never exceeds the cap with clocks skewed by +/-10 minutes in half the workers (waiting callers)', async () => {
    await capHolds(skewed, 1000);
  });

  it('Redis paused (SIGSTOP) under load: calls settle within the bound; the cap holds again after SIGCONT', async () => {
    const name = freshName('paused');
    const loading = load(fleet, name, 2500);
    await delay(500);
    server.pause();
    await delay(1200);
    server.resume();
    const results = await loading;

    expect(Math.max(...results.map((r) => r.slowestMs))).toBeLessThan(OPERATION_TIMEOUT_MS + 250);
    resetObserver();
    await load(fleet, name, 800);
    expect(observer.max).toBeLessThanOrEqual(CAPACITY);
    // Slots granted to acquires that timed out during the pause were undone, not left to lapse.
    await waitUntil(async () => (await fleet.workers[0].request('depth', { name })) === 0, {
      timeoutMs: LEASE_MS,
      what: 'depth 0',
    });
    console.log(
      `SIGSTOP under fleet load: slowest decision ${Math.round(Math.max(...results.map((r) => r.slowestMs)))} ms`,
    );
  });

  it('Redis killed and restarted under load: the fleet recovers by itself and the cap holds again', async () => {
    const name = freshName('restart');
    const loading = load(fleet, name, 2500);
    await delay(500);
    await server.kill();
    await delay(300);
    await server.restart();
    const results = await loading;

    expect(results.every((r) => r.granted > 0)).toBe(true);
    resetObserver();
    const after = await load(fleet, name, 800);
    expect(observer.max).toBe(CAPACITY);
    expect(after.reduce((sum, r) => sum + r.granted, 0)).toBeGreaterThan(20);
    expect(await keysWithoutTtl(admin)).toEqual([]);
  });

  it('keeps a holder slot alive by renewal, and hands it on within the lease after SIGKILL', async () => {
    const name = freshName('crash');
    const [holder, ...others] = fleet.workers;
    expect(await holder.request('hold', { name, n: CAPACITY })).toBe(CAPACITY);
    for (let i = 0; i < 6; i++) {
      await delay(250);
      expect(await others[i % others.length].request('hold', { name, n: 1 })).toBe(0);
    }

    const killedAt = performance.now();
    await holder.kill('SIGKILL');
    while ((await others[0].request('hold', { name, n: 1 })) === 0) await delay(20);
    const takeoverMs = performance.now() - killedAt;

    expect(takeoverMs).toBeGreaterThan((LEASE_MS * 2) / 3 - 100);
    expect(takeoverMs).toBeLessThan(LEASE_MS + 350);
    await others[0].request('releaseAll');
    console.log(
      `backpressure holder SIGKILL: slot reclaimed after ${Math.round(takeoverMs)} ms (lease ${LEASE_MS} ms)`,
    );
  });

  it('saw no unhandled rejection in any worker and left a TTL on every key', async () => {
    expect([...fleet.unhandled(), ...skewed.unhandled()]).toEqual([]);
    expect((await admin.keys('fleet:*')).length).toBeGreaterThan(0);
    expect(await keysWithoutTtl(admin)).toEqual([]);
  });
});
