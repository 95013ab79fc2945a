import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { startRedis, stopAllRedis, type RedisServerHandle } from '../support/redis/index.js';
import { dedupeMember } from './dedupe-names.js';
import { startFleet, type Connection, type Fleet } from './fleet.js';

/*
 * 14.4: a dedupe owner killed with SIGKILL while it holds a claim. Its claim lapses at most one
 * lease after its last renewal (it renews every lease/3); the waiting processes must take over
 * at that moment, not at the end of some longer wait of their own. Two waiting processes: one
 * takes over, the other waits for it. Measured against the lapse Redis reports.
 *
 * The lease path only: the heartbeat (which would find the crash sooner, see
 * fleet-dedupe-owner-crash.spec.ts) is set far longer than the leases here. It still bounds a
 * claim whose owner's process lives but stopped renewing, and an owner of an older version.
 */
const WORKER = new URL('./workers/dedupe-worker.ts', import.meta.url);

interface Execution {
  key: string;
  worker: number;
  at: number;
}
const executions: Execution[] = [];
const observe = (worker: { index: number }, report: any) => {
  if (report.type === 'exec')
    executions.push({ key: report.key, worker: worker.index, at: performance.now() });
};

describe('a SIGKILLed dedupe owner', () => {
  let server: RedisServerHandle;
  let admin: Redis;
  let fleet: Fleet;

  beforeAll(async () => {
    server = await startRedis();
    admin = server.client();
    const connection: Connection = { mode: 'standalone', port: server.port };
    const init = { connection, keyPrefix: 'takeover:', heartbeatMs: 60_000 };
    fleet = await startFleet(WORKER, [init, init, init], observe);
  }, 90_000);

  afterAll(async () => {
    await fleet?.stop();
    await stopAllRedis();
  });

  it.each([
    [0, 1200],
    [1, 3000],
  ])(
    'owner %d, lease %d ms: a waiter takes over as soon as the lease lapses, within one renewal interval',
    async (ownerIndex, leaseMs) => {
      const key = `crash-${leaseMs}`;
      const owner = fleet.workers[ownerIndex];
      const waiters = fleet.workers.filter((w) => w !== owner && w.alive);
      await owner.request('own', { name: 'crash', key, leaseMs });
      // The takeover runs longer than the interval within which every waiting process notices
      // the lapse (one renewal interval, asserted below), so the other process joins it rather
      // than finding the key free after it ended (ttlMs 0 caches nothing: that would be a new,
      // legitimate execution, and a loaded machine once made one with 50 ms of work).
      const workMs = leaseMs / 2;
      const waiting = Promise.all(
        waiters.map((w) => w.request('herd', { name: 'crash', key, callers: 10, workMs, leaseMs })),
      );
      await delay(leaseMs / 2);

      await owner.kill('SIGKILL');
      const killedAt = performance.now();
      // When the claim lapses, as Redis counts it: the owner's last renewal plus the lease.
      const lapsesInMs = await admin.pttl(`takeover:{dd:crash}:${dedupeMember(key)}:l`);
      const lapseAt = killedAt + lapsesInMs;
      const runs: any[][] = await waiting;

      const [first, takeover, ...rest] = executions.filter((e) => e.key === key);
      expect(first.worker).toBe(ownerIndex);
      expect(rest).toEqual([]);
      const afterLapseMs = takeover.at - lapseAt;
      // Renewed every lease/3: the claim outlived the kill by 2/3 to 1 lease.
      expect(lapsesInMs).toBeGreaterThan((leaseMs * 2) / 3 - 150);
      // Never before the lapse (the lease is the guarantee), and well within one renewal interval
      // after it.
      expect(afterLapseMs).toBeGreaterThan(-20);
      expect(afterLapseMs).toBeLessThan(leaseMs / 3);
      expect(new Set(runs.flat().map((r) => JSON.stringify(r.value))).size).toBe(1);
      console.log(
        `dedupe owner SIGKILL, lease ${leaseMs} ms: the lease lapsed ${lapsesInMs} ms after the kill; a waiter took over ${Math.round(takeover.at - killedAt)} ms after the kill, ${Math.round(afterLapseMs)} ms after the lapse`,
      );
    },
  );

  it('saw no unhandled rejection in any worker', () => {
    expect(fleet.unhandled()).toEqual([]);
  });
});
