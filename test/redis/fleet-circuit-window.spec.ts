import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { CircuitConfig } from '../../lib/circuit-breaker/circuit-breaker.store.js';
import {
  keysWithoutTtl,
  startRedis,
  stopAllRedis,
  type RedisServerHandle,
} from '../support/redis/index.js';
import { startFleet, type Connection, type Fleet, type FleetWorker } from './fleet.js';

/*
 * Four processes, each with a failure rate of 60 % but too few calls for `minimumCalls` alone:
 * only their merged window crosses the threshold. Three of them together still stay under
 * `minimumCalls`; the fourth's batch crosses it, and the opening reaches every process within
 * two sync intervals of the last call (one interval to send the batch, then pub/sub), plus how
 * late the processes ran their timers meanwhile: on a loaded machine a timer that should fire
 * at once may fire hundreds of ms late, and no code of ours can be quicker than its timer.
 */

const WORKER = new URL('./workers/circuit-window-worker.ts', import.meta.url);
const TEN_MINUTES = 10 * 60_000;
const SYNC_INTERVAL_MS = 200;
const CALLS = { failures: 9, successes: 6 }; // 15 calls each, 60 % failures
const BASE: CircuitConfig = {
  threshold: 1, // unused with rates
  recoveryWindowMs: 60_000,
  halfOpenMaxCalls: 1,
  probeLeaseMs: 60_000,
  failureRateThreshold: 0.5,
  minimumCalls: 50, // three processes (45 calls) stay under it; four (60) reach it
  syncIntervalMs: SYNC_INTERVAL_MS,
};

let counter = 0;
const freshCircuit = () => `fleet-window-${++counter}`;

async function crossTogether(workers: FleetWorker[], config: CircuitConfig): Promise<void> {
  const circuit = freshCircuit();
  const [last, ...first] = workers;

  const firstRuns = await Promise.all(
    first.map((w) => w.request('calls', { circuit, config, ...CALLS })),
  );
  // Closed path: one round trip to learn the closed state; the rest are syncs.
  for (const run of firstRuns) expect(run.roundTrips).toBeLessThanOrEqual(2);
  await delay(3 * SYNC_INTERVAL_MS);
  expect(await last.request('snapshot', { circuit, config })).toMatchObject({
    state: 'closed',
    windowCalls: 45,
    failureRate: 0.6,
  });

  const timeoutMs = 10 * SYNC_INTERVAL_MS;
  await Promise.all(workers.map((w) => w.request('loopDelay')));
  const watching = workers.map((w) => w.request('watch', { circuit, config, timeoutMs }));
  const crossing = await last.request('calls', { circuit, config, ...CALLS });
  const learned: any[] = await Promise.all(watching);

  const lagMs = Math.max(...learned.map((l) => l.learnedAt)) - crossing.endedAt;
  const lateMs = Math.max(...(await Promise.all(workers.map((w) => w.request('loopDelay')))));
  console.log(
    `fleet window opened everywhere ${Math.round(lagMs)} ms after the crossing call (timers ran up to ${Math.round(lateMs)} ms late)`,
  );
  expect(lagMs).toBeLessThanOrEqual(2 * SYNC_INTERVAL_MS + lateMs);
  // Each learned it from pub/sub or its own sync reply, not by asking at admission.
  expect(learned.every((l) => l.roundTrip === false)).toBe(true);
  const heard = (await Promise.all(workers.map((w) => w.request('heard')))).flat();
  expect(heard).toEqual([
    expect.objectContaining({ from: 'closed', to: 'open', reason: 'failure-rate' }),
  ]);
}

describe('failure-rate window across a fleet of processes (standalone Redis)', () => {
  let server: RedisServerHandle;
  let fleet: Fleet;

  beforeAll(async () => {
    server = await startRedis();
    const connection: Connection = { mode: 'standalone', port: server.port };
    const skews = [TEN_MINUTES, 0, -TEN_MINUTES, 0]; // the window runs on Redis's clock
    fleet = await startFleet(
      WORKER,
      skews.map((skewMs) => ({ connection, keyPrefix: 'fleet:', skewMs })),
    );
  }, 30_000);

  afterAll(async () => {
    await fleet?.stop();
    await stopAllRedis();
  });

  it('opens in every process once their merged count window crosses the threshold', async () => {
    await crossTogether(fleet.workers, { ...BASE, windowSize: 100 });
  });

  it('does the same with a time window, on clocks skewed by +/-10 minutes', async () => {
    await crossTogether(fleet.workers, { ...BASE, windowMs: 60_000 });
  });

  it('saw no unhandled rejection in any worker and left a TTL on every key', async () => {
    expect(fleet.unhandled()).toEqual([]);
    const client = server.client();
    expect((await client.keys('fleet:*')).length).toBeGreaterThan(0);
    expect(await keysWithoutTtl(client)).toEqual([]);
  });
});
