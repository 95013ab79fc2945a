import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { CircuitConfig } from '../../lib/circuit-breaker/circuit-breaker.store.js';
import {
  keysWithoutTtl,
  startRedis,
  startRedisCluster,
  stopAllRedis,
  type RedisClusterHandle,
  type RedisServerHandle,
} from '../support/redis/index.js';
import { startFleet, type Connection, type Fleet, type FleetWorker } from './fleet.js';

const WORKER = new URL('./workers/circuit-worker.ts', import.meta.url);
const WORKERS = 4;
const TEN_MINUTES = 10 * 60_000;
const CONFIG: CircuitConfig = {
  threshold: 8,
  recoveryWindowMs: 700,
  halfOpenMaxCalls: 2,
  probeLeaseMs: 1200,
};

let circuitCounter = 0;
const freshCircuit = () => `fleet-${++circuitCounter}`;

function inits(connection: Connection, skews: number[] = []) {
  return Array.from({ length: WORKERS }, (_, i) => ({
    connection,
    config: CONFIG,
    keyPrefix: 'fleet:',
    skewMs: skews[i] ?? 0,
  }));
}

/**
 * T10: failures on three workers trip the circuit once for the fleet; the idle fourth learns it
 * through pub/sub (its first rejection costs no round trip); at the end of the window 52
 * concurrent callers get exactly `halfOpenMaxCalls` probes; their success closes it everywhere.
 */
async function tripProbeAndClose(workers: FleetWorker[]): Promise<void> {
  const circuit = freshCircuit();
  const [idle, ...failing] = workers;
  await Promise.all(workers.map((w) => w.request('admit', { circuit })));
  await Promise.all(workers.map((w) => w.request('settle', { circuit, outcome: 'ignored' })));

  const runs: any[][] = await Promise.all(
    failing.map((w) => w.request('fail', { circuit, n: 12 })),
  );

  const calls = runs.flat();
  const admitted = calls.filter((c) => c.admitted);
  const trips = calls.filter((c) => c.recorded?.to === 'open');
  expect(trips).toHaveLength(1);
  expect(admitted.length).toBeGreaterThanOrEqual(CONFIG.threshold);
  // At most one call in flight on each other worker when the trip happened.
  expect(admitted.length).toBeLessThanOrEqual(CONFIG.threshold + failing.length - 1);
  expect(runs.every((run) => run[run.length - 1].admitted === false)).toBe(true);

  await delay(100);
  const learned = await idle.request('admit', { circuit });
  expect(learned).toMatchObject({ admitted: false, roundTrip: false });
  for (const w of failing)
    expect(await w.request('admit', { circuit })).toMatchObject({
      admitted: false,
      roundTrip: false,
    });

  await delay(CONFIG.recoveryWindowMs + 100);
  const bursts: any[][] = await Promise.all(
    workers.map((w) => w.request('burst', { circuit, n: 13 })),
  );
  const admissions = bursts.flat();
  expect(admissions).toHaveLength(52);
  expect(admissions.filter((a) => a.admitted && a.probe)).toHaveLength(CONFIG.halfOpenMaxCalls);
  expect(admissions.filter((a) => a.admitted && !a.probe)).toHaveLength(0);
  expect(admissions.filter((a) => a.transition?.to === 'half-open')).toHaveLength(1);

  const settled: any[][] = await Promise.all(
    workers.map((w) => w.request('settle', { circuit, outcome: 'success' })),
  );
  expect(settled.flat().filter((t) => t?.to === 'closed')).toHaveLength(1);
  for (const w of workers)
    expect(await w.request('admit', { circuit })).toMatchObject({ admitted: true, probe: false });
  await Promise.all(workers.map((w) => w.request('settle', { circuit, outcome: 'success' })));
}

describe('circuit breaker across a fleet of processes (standalone Redis)', () => {
  let server: RedisServerHandle;
  let fleet: Fleet;
  let skewed: Fleet;

  beforeAll(async () => {
    server = await startRedis();
    const connection: Connection = { mode: 'standalone', port: server.port };
    [fleet, skewed] = await Promise.all([
      startFleet(WORKER, inits(connection)),
      startFleet(WORKER, inits(connection, [TEN_MINUTES, 0, -TEN_MINUTES, 0])),
    ]);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([fleet?.stop(), skewed?.stop()]);
    await stopAllRedis();
  });

  it('opens fleet-wide and admits exactly halfOpenMaxCalls probes fleet-wide', async () => {
    await tripProbeAndClose(fleet.workers);
  });

  it('behaves the same when half the workers have clocks skewed by +/-10 minutes', async () => {
    await tripProbeAndClose(skewed.workers);
  });

  it('hands the probe slot of a SIGKILLed prober to another worker once its lease runs out', async () => {
    const circuit = freshCircuit();
    const [tripper, prober, ...others] = fleet.workers;
    await tripper.request('fail', { circuit, n: CONFIG.threshold + 1 });
    await delay(CONFIG.recoveryWindowMs + 100);
    // The lease starts inside Redis somewhere between these two instants; the reply can
    // take a while to come back over IPC on a loaded machine, so each bound uses its own end.
    const requestedAt = performance.now();
    const probes: any[] = await prober.request('burst', { circuit, n: CONFIG.halfOpenMaxCalls });
    const probedAt = performance.now();
    expect(probes.every((p) => p.admitted && p.probe)).toBe(true);

    await prober.kill('SIGKILL');
    let takeover: any;
    while (takeover === undefined) {
      const attempts: any[] = await Promise.all(others.map((w) => w.request('admit', { circuit })));
      takeover = attempts.find((a) => a.admitted);
      if (takeover === undefined) await delay(20);
    }
    const takenOverAt = performance.now();
    const takeoverMs = takenOverAt - probedAt;

    expect(takeover.probe).toBe(true);
    expect(takenOverAt - requestedAt).toBeGreaterThanOrEqual(CONFIG.probeLeaseMs - 50);
    expect(takeoverMs).toBeLessThanOrEqual(CONFIG.probeLeaseMs + 350);
    console.log(
      `probe takeover after SIGKILL: ${Math.round(takeoverMs)} ms (lease ${CONFIG.probeLeaseMs} ms)`,
    );
  });

  it('saw no unhandled rejection in any worker and left a TTL on every key', async () => {
    expect([...fleet.unhandled(), ...skewed.unhandled()]).toEqual([]);
    const client = server.client();
    expect((await client.keys('fleet:*')).length).toBeGreaterThan(0);
    expect(await keysWithoutTtl(client)).toEqual([]);
  });
});

describe('circuit breaker across a fleet of processes (3-master Cluster)', () => {
  let cluster: RedisClusterHandle;
  let fleet: Fleet;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    fleet = await startFleet(WORKER, inits({ mode: 'cluster', nodes: [...cluster.startupNodes] }));
  }, 90_000);

  afterAll(async () => {
    await fleet?.stop();
    await stopAllRedis();
  });

  it('opens fleet-wide and admits exactly halfOpenMaxCalls probes fleet-wide', async () => {
    await tripProbeAndClose(fleet.workers);
    expect(fleet.unhandled()).toEqual([]);
    expect(await keysWithoutTtl(cluster.client())).toEqual([]);
  });
});
