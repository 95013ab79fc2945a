import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import {
  keysWithoutTtl,
  startRedis,
  stopAllRedis,
  waitUntil,
  type RedisServerHandle,
} from '../support/redis/index.js';
import { startFleet, type Connection, type Fleet } from './fleet.js';

const WORKER = new URL('./workers/dedupe-worker.ts', import.meta.url);
const WORKERS = 4;
const TEN_MINUTES = 10 * 60_000;

interface Execution {
  key: string;
  worker: number;
  at: number;
}

/** The observer: every execution is reported here by the worker that runs it. */
const executions: Execution[] = [];
const observe = (worker: { index: number }, report: any) => {
  if (report.type === 'exec')
    executions.push({ key: report.key, worker: worker.index, at: performance.now() });
};
const executionsOf = (key: string) => executions.filter((e) => e.key === key);

let keyCounter = 0;
const freshKey = (label: string) => `${label}-${++keyCounter}`;

function inits(connection: Connection, skews: number[] = []) {
  return Array.from({ length: WORKERS }, (_, i) => ({
    connection,
    keyPrefix: 'fleet:',
    skewMs: skews[i] ?? 0,
  }));
}

/** T6: 200 concurrent callers over 4 processes, one key: one execution, one value for all. */
async function herd(fleet: Fleet): Promise<void> {
  const key = freshKey('herd');
  const runs: any[][] = await Promise.all(
    fleet.workers.map((w) => w.request('herd', { name: 'llm', key, callers: 50, workMs: 200 })),
  );

  const results = runs.flat();
  expect(results).toHaveLength(200);
  expect(executionsOf(key)).toHaveLength(1);
  const values = new Set(results.map((r) => JSON.stringify(r.value)));
  expect(values.size).toBe(1);
}

describe('dedupe across a fleet of processes', () => {
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

  beforeEach(() => {
    executions.length = 0;
  });

  it('runs one execution for 200 callers in 4 processes; every caller gets the same value', async () => {
    await herd(fleet);
  });

  it('behaves the same when half the workers have clocks skewed by +/-10 minutes', async () => {
    await herd(skewed);
  });

  it('waiters finish through the poll while every pub/sub connection keeps being killed', async () => {
    const key = freshKey('pubsub');
    const [owner, ...waiters] = fleet.workers;
    await owner.request('own', { name: 'llm', key, leaseMs: 5000 });
    const waiting = Promise.all(
      waiters.map((w) => w.request('herd', { name: 'llm', key, callers: 20 })),
    );
    await delay(200);
    const messagesBefore = await Promise.all(waiters.map((w) => w.request('messages')));
    let killing = true;
    const killer = (async () => {
      while (killing) {
        await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub').catch(() => undefined);
        await delay(2);
      }
    })();
    await delay(50);

    const finishedAt = performance.now();
    await owner.request('finish', { key, value: 'from-owner' });
    const runs: any[][] = await waiting;
    const settledAfterMs = performance.now() - finishedAt;
    killing = false;
    await killer;

    expect(runs.flat().map((r) => r.value)).toEqual(Array(60).fill('from-owner'));
    expect(executionsOf(key)).toHaveLength(1);
    // The poll's interval is capped at 1 s; the lease (5 s) never ran out.
    expect(settledAfterMs).toBeLessThan(1000 + 300);
    const messagesAfter = await Promise.all(waiters.map((w) => w.request('messages')));
    expect(messagesAfter).toEqual(messagesBefore);
    console.log(
      `pub/sub killed: waiters settled ${Math.round(settledAfterMs)} ms after the owner finished`,
    );
  });

  it("gives every waiting process the failed owner's error; the key is free again", async () => {
    const key = freshKey('failed');
    const [owner, ...waiters] = fleet.workers;
    await owner.request('own', { name: 'llm', key });
    const waiting = Promise.all(
      waiters.map((w) => w.request('herd', { name: 'llm', key, callers: 30 })),
    );
    await delay(200);

    await owner.request('fail', { key, message: 'provider down' });
    const runs: any[][] = await waiting;

    expect(runs.flat().map((r) => r.error)).toEqual(
      Array(90).fill({ message: 'provider down', code: 'E_PROVIDER' }),
    );
    expect(executionsOf(key)).toHaveLength(1);
    const again: any[] = await waiters[0].request('herd', { name: 'llm', key, callers: 1 });
    expect(again[0].value).toBeDefined();
    expect(executionsOf(key)).toHaveLength(2);
  });

  it('a SIGKILLed owner is taken over by one waiter within its lease; all callers get the new value', async () => {
    const key = freshKey('crash');
    const leaseMs = 1200;
    const [owner, ...waiters] = fleet.workers;
    await owner.request('own', { name: 'crash', key, leaseMs });
    const waiting = Promise.all(
      waiters.map((w) =>
        w.request('herd', { name: 'crash', key, callers: 30, workMs: 50, leaseMs }),
      ),
    );
    await delay(500);

    const killedAt = performance.now();
    await owner.kill('SIGKILL');
    const runs: any[][] = await waiting;

    const [first, takeover, ...rest] = executionsOf(key);
    expect(first.worker).toBe(0);
    expect(rest).toEqual([]);
    const takeoverMs = takeover.at - killedAt;
    // The owner renewed every lease/3, so its claim lapsed between 2/3 and 1 lease after the kill.
    expect(takeoverMs).toBeGreaterThan((leaseMs * 2) / 3 - 100);
    expect(takeoverMs).toBeLessThan(leaseMs + 350);
    const values = new Set(runs.flat().map((r) => JSON.stringify(r.value)));
    expect(values.size).toBe(1);
    console.log(
      `dedupe owner SIGKILL: taken over after ${Math.round(takeoverMs)} ms (lease ${leaseMs} ms)`,
    );
  });

  it('saw no unhandled rejection in any worker and left a TTL on every key', async () => {
    expect([...fleet.unhandled(), ...skewed.unhandled()]).toEqual([]);
    await waitUntil(async () => (await admin.keys('fleet:*')).length > 0);
    expect(await keysWithoutTtl(admin)).toEqual([]);
  });
});
