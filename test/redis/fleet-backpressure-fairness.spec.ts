import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startRedis, stopAllRedis, type RedisServerHandle } from '../support/redis/index.js';
import { startFleet, type Connection, type Fleet } from './fleet.js';

/**
 * Fairness across processes: a process hands a freed slot to its own waiting callers first
 * (through Redis, `handOver`), which once starved a whole worker (0 of 3,000 calls in 15 s
 * while another got 822). A process whose callers have waited longer than `maxPassOverMs`
 * (250 ms by default) now holds a place: the next slot freed anywhere is kept for it. So no
 * process with waiting callers goes without a grant for much longer than that.
 */

const WORKER = new URL('./workers/backpressure-worker.ts', import.meta.url);
const WORKERS = 4;
const CAPACITY = 5;
const CALLERS = 6;
const DURATION_MS = 5000;
const MAX_PASS_OVER_MS = 250;
/**
 * The bound on how long a process with waiting callers goes without a grant: its place is
 * taken after MAX_PASS_OVER_MS, it then gets the next slot freed anywhere (held at most 15 ms)
 * through the release's wake-up or its 100 ms poll, plus a wide margin for a machine whose
 * cores are shared (event-loop stalls of the workers and of Redis).
 */
const PASSED_OVER_BOUND_MS = MAX_PASS_OVER_MS + 100 + 15 + 650;

type LoadResult = { granted: number; shed: number; slowestMs: number; longestGapMs: number };

describe('backpressure across a fleet: fairness between processes', () => {
  let server: RedisServerHandle;
  let fleet: Fleet;

  beforeAll(async () => {
    server = await startRedis();
    const connection: Connection = { mode: 'standalone', port: server.port };
    const inits = Array.from({ length: WORKERS }, () => ({
      connection,
      keyPrefix: 'fleet:',
      capacity: CAPACITY,
      leaseMs: 2000,
    }));
    fleet = await startFleet(WORKER, inits, () => undefined);
  }, 90_000);

  afterAll(async () => {
    await fleet?.stop();
    await stopAllRedis();
  });

  it('no process with waiting callers is passed over for much longer than maxPassOverMs', async () => {
    const results = await Promise.all(
      fleet.workers.map((w) =>
        w.request<LoadResult>('load', {
          name: 'fair',
          callers: CALLERS,
          durationMs: DURATION_MS,
          maxWaitMs: DURATION_MS,
        }),
      ),
    );
    const granted = results.map((r) => r.granted);
    const gaps = results.map((r) => Math.round(r.longestGapMs));
    console.log(
      `fairness, ${WORKERS} processes x ${CALLERS} waiting callers, capacity ${CAPACITY}, ${DURATION_MS} ms: grants per process ${granted.join(', ')}; longest time without a grant per process ${gaps.join(', ')} ms`,
    );

    expect(Math.max(...gaps)).toBeLessThan(PASSED_OVER_BOUND_MS);
    const total = granted.reduce((sum, n) => sum + n, 0);
    expect(total).toBeGreaterThan(300);
    // Every process gets a real share, not the crumbs of the others.
    expect(Math.min(...granted)).toBeGreaterThan(total / WORKERS / 4);
    expect(fleet.unhandled()).toEqual([]);
  }, 30_000);
});
