import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import type { CircuitConfig } from '../../lib/circuit-breaker/circuit-breaker.store.js';
import {
  keysWithoutTtl,
  startRedis,
  stopAllRedis,
  waitUntil,
  type RedisServerHandle,
} from '../support/redis/index.js';
import { startFleet, type Connection, type Fleet, type FleetWorker } from './fleet.js';
import { dedupeMember } from './dedupe-names.js';

/**
 * T3 "holder pause" (research/distributed.md): a worker SIGSTOPped for 3 x its lease loses what it
 * held to another worker, and on SIGCONT learns it, reports it once, and cannot undo the new
 * holder's work: a backpressure slot, a dedupe claim, a circuit breaker probe slot.
 */

const WORKER = new URL('./workers/pause-worker.ts', import.meta.url);
const WORKERS = 4;
const LEASE_MS = 900;
const PAUSE_MS = 3 * LEASE_MS;
/** A takeover happens between 2/3 of a lease (renewed every lease/3) and a lease after the stop. */
const EARLIEST_TAKEOVER_MS = (LEASE_MS * 2) / 3 - 100;
const LATEST_TAKEOVER_MS = LEASE_MS + 400;
/** Past this a paused worker is resumed by a process of its own, even if this one is gone. */
const SAFETY_RESUME_S = 20;
const CIRCUIT: CircuitConfig = {
  threshold: 2,
  recoveryWindowMs: 400,
  halfOpenMaxCalls: 2,
  // Probes are not renewed: the takeovers' own probes must outlive A's pause by a margin.
  probeLeaseMs: 1200,
};

/** The observer: workers report executions and entering or leaving a slot, and wait for it. */
const executions: { key: string; worker: number; at: number }[] = [];
const inSlot = { current: 0, max: 0 };
const observe = (worker: FleetWorker, report: any) => {
  if (report.type === 'exec')
    executions.push({ key: report.key, worker: worker.index, at: performance.now() });
  if (report.type === 'enter') inSlot.max = Math.max(inSlot.max, ++inSlot.current);
  if (report.type === 'exit') inSlot.current--;
};
const executionsOf = (key: string) => executions.filter((e) => e.key === key);

let counter = 0;
const fresh = (label: string) => `${label}-${++counter}`;

/** The `redis.lease-lost` events a worker's backend reported for `name`. */
const leaseLost = (worker: FleetWorker, primitive: string, name: string) =>
  worker.events.filter(
    (e: any) => e.type === 'redis.lease-lost' && e.primitive === primitive && e.name === name,
  );
/** The `store.error` events of a lost renewal a worker's primitive reported for `name`. */
const lostRenewals = (worker: FleetWorker, primitive: string, name: string) =>
  worker.events.filter(
    (e: any) =>
      e.type === 'store.error' &&
      e.primitive === primitive &&
      e.name === name &&
      e.operation === 'renew' &&
      /lease lost/.test(e.error),
  );

interface Paused {
  /** performance.now() when the worker was seen stopped. */
  readonly at: number;
  /** SIGCONT; answers performance.now() at that moment. */
  resume(): number;
}
const pausedWorkers = new Set<Paused>();

/** Linux process state: 'T' once SIGSTOP has taken effect. */
function processState(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2)[0];
}

/**
 * SIGSTOP `worker`. A detached watchdog process sends SIGCONT after SAFETY_RESUME_S unless
 * resume() ran first, so a stopped worker never outlives this test file (a continued worker
 * exits by itself once its parent is gone).
 */
async function pause(worker: FleetWorker): Promise<Paused> {
  const watchdog = spawn('sh', ['-c', `sleep ${SAFETY_RESUME_S}; kill -CONT ${worker.pid}`], {
    detached: true,
    stdio: 'ignore',
  });
  watchdog.unref();
  worker.proc.kill('SIGSTOP');
  await waitUntil(() => processState(worker.pid) === 'T', {
    timeoutMs: 2000,
    intervalMs: 1,
    what: `worker ${worker.index} stopped`,
  });
  const paused: Paused = {
    at: performance.now(),
    resume() {
      const at = performance.now();
      if (!pausedWorkers.delete(paused)) return at;
      worker.proc.kill('SIGCONT');
      try {
        process.kill(-watchdog.pid!, 'SIGKILL'); // its process group: sh and its sleep
      } catch {
        // Already gone.
      }
      return at;
    },
  };
  pausedWorkers.add(paused);
  return paused;
}

/** Keeps `worker` stopped until PAUSE_MS after `paused.at`, then resumes it. */
async function resumeAfterPause(paused: Paused): Promise<number> {
  await delay(Math.max(0, paused.at + PAUSE_MS - performance.now()));
  return paused.resume();
}

/** Samples ZCARD of a guard's holders set (every lease, lapsed or not) until stopped. */
function sampleHolders(admin: Redis, key: string) {
  const seen = { max: 0, samples: 0 };
  let running = true;
  const loop = (async () => {
    while (running) {
      seen.max = Math.max(seen.max, await admin.zcard(key));
      seen.samples++;
      await delay(5);
    }
  })();
  return async () => {
    running = false;
    await loop;
    return seen;
  };
}

describe('a worker paused (SIGSTOP) beyond its lease', () => {
  let server: RedisServerHandle;
  let admin: Redis;
  let fleet: Fleet;

  beforeAll(async () => {
    server = await startRedis();
    admin = server.client();
    const connection: Connection = { mode: 'standalone', port: server.port };
    const inits = Array.from({ length: WORKERS }, () => ({
      connection,
      keyPrefix: 'fleet:',
      circuit: CIRCUIT,
    }));
    fleet = await startFleet(WORKER, inits, observe);
  }, 90_000);

  afterAll(async () => {
    pausedWorkers.forEach((paused) => paused.resume());
    await fleet?.stop();
    await stopAllRedis();
  });

  beforeEach(() => {
    executions.length = 0;
    inSlot.max = inSlot.current;
  });

  // A failed test must not leave a worker stopped for the next one.
  afterEach(() => pausedWorkers.forEach((paused) => paused.resume()));

  it('backpressure: B takes the slot within a lease; A reports the lost lease once and its late release frees nothing', async () => {
    const name = fresh('bp');
    const [a, b, c, d] = fleet.workers;
    const hold = (w: FleetWorker, maxWaitMs = 0) =>
      w.request<boolean>('bpHold', { name, leaseMs: LEASE_MS, maxWaitMs });
    const depth = () => d.request<number>('bpDepth', { name });
    const stopSampling = sampleHolders(admin, `fleet:{bp:${name}}:h`);
    let seen: { max: number; samples: number };
    let takeoverMs: number;
    let reportedMs: number;
    try {
      expect(await hold(a)).toBe(true);
      // A's slot is renewed before the pause, so its lease runs out 2/3 to 1 lease after it.
      await waitUntil(async () => (await a.request('bpRenewals', { name })).held >= 1, {
        timeoutMs: LEASE_MS,
        what: 'a renewal of A',
      });
      expect(await hold(c)).toBe(false);

      const paused = await pause(a);
      expect(await hold(b, PAUSE_MS)).toBe(true);
      takeoverMs = performance.now() - paused.at;
      expect(takeoverMs).toBeGreaterThan(EARLIEST_TAKEOVER_MS);
      expect(takeoverMs).toBeLessThan(LATEST_TAKEOVER_MS);
      // B holds the one slot: nobody else gets it while A stays paused.
      expect(await hold(c)).toBe(false);
      expect(await depth()).toBe(1);
      expect(leaseLost(a, 'backpressure', name)).toEqual([]);

      const resumedAt = await resumeAfterPause(paused);
      await waitUntil(() => leaseLost(a, 'backpressure', name).length > 0, {
        timeoutMs: LEASE_MS,
        intervalMs: 5,
        what: 'A reporting its lost lease',
      });
      reportedMs = performance.now() - resumedAt;
      // Both A (which never released) and B run: the cap plus the one reported lost lease.
      expect(inSlot.current).toBe(2);

      // A's late release frees nothing: B's slot is still the one held, and C is still refused.
      expect(await a.request('bpRelease', { name })).toBe(true);
      expect(await a.request('bpDepth', { name })).toBe(1);
      expect(await hold(c)).toBe(false);
      // B keeps its slot by renewal for more than a lease after A's release.
      const watchUntil = performance.now() + LEASE_MS + 100;
      while (performance.now() < watchUntil) {
        expect(await depth()).toBe(1);
        await delay(100);
      }
      expect(await hold(c)).toBe(false);

      expect(await b.request('bpRelease', { name })).toBe(true);
      await waitUntil(async () => (await depth()) === 0, { timeoutMs: 1000, what: 'depth 0' });
    } finally {
      seen = await stopSampling();
    }

    // Never more than one lease in Redis, lapsed or live (A's renewal never re-added its slot)...
    expect(seen.max).toBe(1);
    expect(seen.samples).toBeGreaterThan(50);
    // ...while the calls that ran at once were capacity (1) + lost leases (1).
    expect(inSlot.max).toBe(2);
    expect(inSlot.current).toBe(0);
    // Exactly one lost lease, in A only, reported both as the store event and a store.error.
    expect(leaseLost(a, 'backpressure', name)).toHaveLength(1);
    expect(lostRenewals(a, 'backpressure', name)).toHaveLength(1);
    expect((await a.request('bpRenewals', { name })).lost).toBe(1);
    for (const w of [b, c, d]) {
      expect(leaseLost(w, 'backpressure', name)).toEqual([]);
      expect((await w.request('bpRenewals', { name })).lost).toBe(0);
    }
    console.log(
      `backpressure holder SIGSTOP ${PAUSE_MS} ms: slot taken over after ${Math.round(takeoverMs)} ms (lease ${LEASE_MS} ms); lost lease reported ${Math.round(reportedMs)} ms after SIGCONT; ZCARD max ${seen.max} over ${seen.samples} samples`,
    );
  });

  it('dedupe: one waiter takes over the paused owner within a lease; the late completion is not cached and every caller settles', async () => {
    const name = fresh('dd');
    const key = fresh('key');
    const [a, b, c, d] = fleet.workers;
    const args = { name, key, leaseMs: LEASE_MS, ttlMs: 30_000 };
    const redisKey = (part: string) => `fleet:{dd:${name}}:${dedupeMember(key)}:${part}`;
    const subscribers = async () =>
      (
        (await admin.call('PUBSUB', 'NUMSUB', `fleet:dd:${name}:${dedupeMember(key)}`)) as [
          string,
          number,
        ]
      )[1];

    await a.request('ddOwn', args);
    let settled = 0;
    const waiting = [b, c].map((w) =>
      w.request<any[]>('ddCall', { ...args, callers: 10 }).finally(() => settled++),
    );
    // Awaited below; a test that fails earlier must not leave them unhandled.
    waiting.forEach((w) => w.catch(() => undefined));
    // Both waiting processes watch A's claim before A stops.
    await waitUntil(async () => (await subscribers()) === 2, { what: 'B and C watching' });

    const paused = await pause(a);
    await waitUntil(() => executionsOf(key).length > 1, {
      timeoutMs: LATEST_TAKEOVER_MS + 500,
      what: 'a takeover',
    });
    const [first, takeover] = executionsOf(key);
    const takeoverMs = takeover.at - paused.at;
    expect(first.worker).toBe(0);
    expect([1, 2]).toContain(takeover.worker);
    expect(takeoverMs).toBeGreaterThan(EARLIEST_TAKEOVER_MS);
    expect(takeoverMs).toBeLessThan(LATEST_TAKEOVER_MS);
    const executor = fleet.workers[takeover.worker];

    const resumedAt = await resumeAfterPause(paused);
    // One takeover only, while A was paused for 3 leases.
    expect(executionsOf(key)).toHaveLength(2);
    await waitUntil(() => leaseLost(a, 'dedupe', name).length > 0, {
      timeoutMs: LEASE_MS,
      intervalMs: 5,
      what: 'A reporting its lost claim',
    });
    const reportedMs = performance.now() - resumedAt;

    // A completes late: its own caller gets its value; the claim and the cache stay the takeover's.
    expect(await a.request('ddFinish', { key, value: 'late-from-A' })).toBe(true);
    expect(await a.request('ddOwnResult', { key })).toBe('late-from-A');
    await waitUntil(
      async () => (await admin.get(redisKey('d')))?.includes('late-from-A') === true,
      {
        what: "A's completion handed to its own waiters",
      },
    );
    expect(await admin.exists(redisKey('r'))).toBe(0);
    expect(await admin.get(redisKey('l'))).not.toBeNull();
    expect(settled).toBe(0);

    // A newcomer waits for the takeover too, not for A's late value.
    const late = d.request<any[]>('ddCall', { ...args, callers: 5 });
    late.catch(() => undefined);
    await waitUntil(async () => (await subscribers()) === 2, { what: 'D watching the takeover' });
    expect(await executor.request('ddFinish', { key, value: 'from-takeover' })).toBe(true);

    const runs = (await Promise.all(waiting)).flat();
    expect(runs).toEqual(Array(20).fill({ value: 'from-takeover' }));
    expect(await late).toEqual(Array(5).fill({ value: 'from-takeover' }));
    // The takeover's result is the cached one, for A as well.
    expect(await a.request('ddCall', { ...args, callers: 1 })).toEqual([
      { value: 'from-takeover' },
    ]);
    expect(executionsOf(key)).toHaveLength(2);
    expect(leaseLost(a, 'dedupe', name)).toHaveLength(1);
    expect(lostRenewals(a, 'dedupe', name)).toHaveLength(1);
    for (const w of [b, c, d]) expect(leaseLost(w, 'dedupe', name)).toEqual([]);
    console.log(
      `dedupe owner SIGSTOP ${PAUSE_MS} ms: taken over after ${Math.round(takeoverMs)} ms (lease ${LEASE_MS} ms); lost claim reported ${Math.round(reportedMs)} ms after SIGCONT`,
    );
  });

  it("circuit breaker: a paused prober's slots go to other workers after probeLeaseMs; its late outcomes free no slot and change no state", async () => {
    const circuit = fresh('cb');
    const [a, b, c, d] = fleet.workers;
    const snapshot = () => d.request('cbSnapshot', { circuit });
    const trips: any[] = await d.request('cbFail', { circuit, n: CIRCUIT.threshold + 2 });
    expect(trips).toMatchObject([{ from: 'closed', to: 'open' }]);
    await waitUntil(async () => (await snapshot()).state === 'half-open', {
      timeoutMs: CIRCUIT.recoveryWindowMs + 1000,
      what: 'the recovery window',
    });

    const probedAt = performance.now();
    const probes: any[] = [
      await a.request('cbAdmit', { circuit }),
      await a.request('cbAdmit', { circuit }),
    ];
    expect(probes).toMatchObject([
      { admitted: true, probe: true },
      { admitted: true, probe: true },
    ]);
    const epoch = probes[0].epoch;
    const paused = await pause(a);

    // B and C keep asking until both slots of A's lapsed probes are theirs.
    const takeovers: { worker: FleetWorker; admission: any; ms: number }[] = [];
    while (takeovers.length < CIRCUIT.halfOpenMaxCalls) {
      const attempts = await Promise.all(
        [b, c].map(async (worker) => ({
          worker,
          admission: await worker.request('cbAdmit', { circuit }),
          ms: performance.now() - probedAt,
        })),
      );
      takeovers.push(...attempts.filter((t) => t.admission.admitted));
      if (performance.now() - paused.at > 2 * CIRCUIT.probeLeaseMs) break;
      await delay(20);
    }
    expect(takeovers).toHaveLength(CIRCUIT.halfOpenMaxCalls);
    expect(takeovers.map((t) => t.admission)).toMatchObject([
      { probe: true, epoch },
      { probe: true, epoch },
    ]);
    const firstTakeoverMs = Math.min(...takeovers.map((t) => t.ms));
    expect(firstTakeoverMs).toBeGreaterThanOrEqual(CIRCUIT.probeLeaseMs - 50);
    expect(firstTakeoverMs).toBeLessThan(CIRCUIT.probeLeaseMs + 400);
    expect(await d.request('cbAdmit', { circuit })).toMatchObject({ admitted: false });

    // Resumed at once: paused beyond probeLeaseMs, while the takeovers' probes are still live.
    const pausedMs = paused.resume() - paused.at;
    expect(pausedMs).toBeGreaterThan(CIRCUIT.probeLeaseMs);
    // A's late "ignored" outcome frees none of the slots its lapsed probes lost.
    expect(await a.request('cbRecord', { circuit, call: probes[0].call, outcome: 'ignored' })).toBe(
      null,
    );
    expect(await snapshot()).toMatchObject({ state: 'half-open', epoch, probesInFlight: 2 });
    expect(await d.request('cbAdmit', { circuit })).toMatchObject({ admitted: false });

    // A takeover's failure reopens the circuit; A's late success is then stale.
    const [failing, succeeding] = takeovers;
    expect(
      await failing.worker.request('cbRecord', {
        circuit,
        call: failing.admission.call,
        outcome: 'failure',
      }),
    ).toMatchObject({ from: 'half-open', to: 'open' });
    const reopened = await snapshot();
    expect(reopened).toMatchObject({ state: 'open', epoch: epoch + 1 });
    expect(await a.request('cbRecord', { circuit, call: probes[1].call, outcome: 'success' })).toBe(
      null,
    );
    expect(
      await succeeding.worker.request('cbRecord', {
        circuit,
        call: succeeding.admission.call,
        outcome: 'success',
      }),
    ).toBe(null);
    expect(await snapshot()).toEqual(reopened);
    console.log(
      `circuit prober SIGSTOP ${Math.round(pausedMs)} ms: probe slot taken over ${Math.round(firstTakeoverMs)} ms after it was granted (probeLeaseMs ${CIRCUIT.probeLeaseMs} ms)`,
    );
  });

  it('saw no unhandled rejection or degraded mode in any worker and left a TTL on every key', async () => {
    expect(fleet.unhandled()).toEqual([]);
    expect(
      fleet.workers.flatMap((w) => w.events).filter((e: any) => /degraded/.test(e.type)),
    ).toEqual([]);
    expect((await admin.keys('fleet:*')).length).toBeGreaterThan(0);
    expect(await keysWithoutTtl(admin)).toEqual([]);
  });
});
