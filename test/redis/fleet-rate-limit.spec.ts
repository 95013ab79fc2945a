import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import {
  keysWithoutTtl,
  startRedis,
  stopAllRedis,
  type RedisServerHandle,
} from '../support/redis/index.js';
import { startFleet, type Connection, type Fleet } from './fleet.js';

const WORKER = new URL('./workers/rate-limit-worker.ts', import.meta.url);
const WORKERS = 4;
/**
 * 10 per second: one start every 100 ms. A start is counted a round trip after its scheduled
 * time (later still on a loaded machine); the window bound below stays exact while that lag
 * is under one spacing, 100 ms.
 */
const LIMIT = 10;
const INTERVAL_MS = 1000;
const TEN_MINUTES = 10 * 60_000;
/** This machine can be loaded: forking 4 workers through the swc loader may take a while. */
const STARTUP_TIMEOUT_MS = 60_000;

let nameCounter = 0;
const fresh = (label: string) => `${label}-${++nameCounter}`;

/** The Redis server's time, in ms with µs precision. */
async function serverNow(admin: Redis): Promise<number> {
  const [seconds, micros] = await admin.time();
  return Number(seconds) * 1000 + Number(micros) / 1000;
}

/** Every recorded start of `name`: worker and server time in ms, in time order. */
async function startsOf(admin: Redis, name: string): Promise<{ worker: number; at: number }[]> {
  const entries = await admin.lrange(`fleet:starts:{${name}}`, 0, -1);
  return entries
    .map((entry) => {
      const [worker, micros] = entry.split(':');
      return { worker: Number(worker), at: Number(micros) / 1000 };
    })
    .sort((a, b) => a.at - b.at);
}

/** The most starts in any window of `windowMs` (closed at both ends). */
function busiestWindow(times: number[], windowMs: number): number {
  let most = 0;
  let first = 0;
  for (let last = 0; last < times.length; last++) {
    while (times[last] - times[first] > windowMs) first++;
    most = Math.max(most, last - first + 1);
  }
  return most;
}

function load(
  fleet: Fleet,
  name: string,
  options: { durationMs: number; maxWaitMs: number; store?: 'redis' | 'memory' },
) {
  return Promise.all(
    fleet.workers.map((w) =>
      w.request<{ started: number; refused: number }>('load', { name, callers: 5, ...options }),
    ),
  );
}

describe('a rate limit shared by a fleet of processes', () => {
  let server: RedisServerHandle;
  let admin: Redis;
  let fleet: Fleet;

  beforeAll(async () => {
    server = await startRedis();
    admin = server.client();
    const connection: Connection = { mode: 'standalone', port: server.port };
    // Half the workers' clocks are off by 10 minutes: only the server's time may count.
    const skews = [TEN_MINUTES, 0, -TEN_MINUTES, 0];
    const inits = skews.map((skewMs, index) => ({
      connection,
      keyPrefix: 'fleet:',
      skewMs,
      index,
      limit: LIMIT,
      intervalMs: INTERVAL_MS,
    }));
    fleet = await startFleet(WORKER, inits);
  }, STARTUP_TIMEOUT_MS + 10_000);

  afterAll(async () => {
    await fleet?.stop();
    await stopAllRedis();
  });

  it('4 processes x 5 waiting callers start no faster than the token bucket allows, and reach it', async () => {
    const name = fresh('shared');
    const since = await serverNow(admin);

    const results = await load(fleet, name, { durationMs: 3000, maxWaitMs: 1500 });

    const starts = await startsOf(admin, name);
    const times = starts.map((s) => s.at);
    const elapsedMs = times[times.length - 1] - since;
    const allowed = LIMIT + (elapsedMs * LIMIT) / INTERVAL_MS;
    const busiest = busiestWindow(times, INTERVAL_MS);
    expect(starts).toHaveLength(results.reduce((sum, r) => sum + r.started, 0));
    // The bucket (LIMIT) plus what refills in the window (LIMIT): GCRA's exact bound.
    expect(busiest).toBeLessThanOrEqual(2 * LIMIT);
    // Since the first reservation: the bucket plus the refill so far (+1 for ms rounding).
    expect(starts.length).toBeLessThanOrEqual(Math.floor(allowed) + 1);
    // Callers always wait: the fleet gets most of it (the first reservation comes a little after
    // \`since\`), and every process a share.
    expect(starts.length).toBeGreaterThan(0.8 * allowed);
    expect(new Set(starts.map((s) => s.worker)).size).toBe(WORKERS);
    console.log(
      `fleet rate limit ${LIMIT}/${INTERVAL_MS} ms, 4 processes x 5 callers: ${starts.length} starts in ${Math.round(elapsedMs)} ms (bound ${allowed.toFixed(1)}), busiest ${INTERVAL_MS} ms window ${busiest} (bound ${2 * LIMIT}), per worker ${results.map((r) => r.started).join('/')}`,
    );
  });

  it('the same load on a limiter per process breaks the bound (the counter sees a violation)', async () => {
    const name = fresh('per-process');

    await load(fleet, name, { durationMs: 1500, maxWaitMs: 1500, store: 'memory' });

    const times = (await startsOf(admin, name)).map((s) => s.at);
    expect(busiestWindow(times, INTERVAL_MS)).toBeGreaterThan(2 * LIMIT);
  });

  it("a provider's 429 in one process pauses every process until the reset", async () => {
    const name = fresh('cooldown');
    const pauseMs = 1500;
    /** A start granted just before the pause is recorded a round trip or two later. */
    const inFlightMs = 150;
    const loading = load(fleet, name, { durationMs: 3500, maxWaitMs: 0 });
    await delay(1000);

    const before = await serverNow(admin);
    expect(await fleet.workers[1].request('cooldown', { name, pauseMs })).toBe(true);
    const applied = await serverNow(admin);
    await loading;

    const starts = await startsOf(admin, name);
    const during = starts.filter((s) => s.at > applied + inFlightMs && s.at < before + pauseMs);
    expect(during).toEqual([]);
    expect(starts.filter((s) => s.at < before).length).toBeGreaterThan(LIMIT);
    const after = starts.filter((s) => s.at >= before + pauseMs);
    expect(new Set(after.map((s) => s.worker)).size).toBeGreaterThan(1);
    console.log(
      `fleet cooldown ${pauseMs} ms set by worker 1 (${Math.round(applied - before)} ms to apply): 0 starts in ${Math.round(before + pauseMs - applied - inFlightMs)} ms, ${after.length} after`,
    );
  });

  it('saw no unhandled rejection in any worker and left a TTL on every key', async () => {
    expect(fleet.unhandled()).toEqual([]);
    expect((await admin.keys('fleet:{rl:*')).length).toBeGreaterThan(0);
    expect(await keysWithoutTtl(admin)).toEqual([]);
  });
});
