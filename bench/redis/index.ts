/**
 * The Redis part of `npm run bench`: round trips per guarded call (INFO commandstats deltas),
 * throughput of guarded calls from 1 and from 4 processes against one private redis-server, and
 * redis-benchmark's EVALSHA rate on the same server in the same run (the ceiling).
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Redis } from 'ioredis';
import { startRedis, type RedisServerHandle } from '../../test/support/redis/redis-server.js';
import { median } from '../harness.js';
import { PATHS } from './app.js';
import type { PathId } from './paths.js';
import {
  CALLERS,
  PROCESSES,
  ROUNDS,
  SEQUENTIAL_CALLS,
  WARM_MS,
  WINDOW_MS,
  type LoadSummary,
} from './config.js';
import {
  CEILINGS,
  loadOptions,
  redisBenchmark,
  stopBenchmarks,
  type CeilingSample,
  type CeilingSpec,
} from './ceiling.js';
import type { LoadResult, SequentialResult } from './protocol.js';
import { renderRedis, writeRedisReport } from './report.js';
import type { RedisReport } from './results.js';
import { SYNC_INTERVAL_MS } from './windows.js';
import { commandCounts, delta, settledCounts, withRedisCpu, type Delta } from './stats.js';
import { startWorkers, stopWorkers, type BenchWorker } from './workers.js';

/** `BENCH_REDIS_PATHS=window-count,memory-count`: only these paths, no ceiling (a trial run). */
const ONLY = process.env.BENCH_REDIS_PATHS?.split(',');
const SELECTED = ONLY === undefined ? PATHS : PATHS.filter((spec) => ONLY.includes(spec.id));
/** The paths timed under load. */
const LOADED = SELECTED.filter((spec) => spec.load);
/**
 * Quiet time that ends a round-trip count: longer than a window breaker's sync interval, so the
 * batch its calls left behind is merged (and counted) before the next path starts.
 */
const COUNT_QUIET_MS = 2 * SYNC_INTERVAL_MS;
/** Lets every worker receive the start time before it passes. */
const START_DELAY_MS = 50;

export interface RedisBenchOptions {
  /** Rewrite the Redis block of BENCHMARKS.md. */
  readonly write: boolean;
  readonly log: (message: string) => void;
}

/** Runs the Redis part unless `BENCH_REDIS=0`; skipped with a note when redis-server is missing. */
export async function benchRedis(options: RedisBenchOptions): Promise<void> {
  const { log } = options;
  if (process.env.BENCH_REDIS === '0') return log('BENCH_REDIS=0: Redis part skipped');
  const serverBinary = findExecutable('redis-server');
  if (serverBinary === undefined) {
    console.log(
      '\nRedis part skipped: redis-server is not on PATH (apt-get install -y redis-server); ' +
        'the Redis section of BENCHMARKS.md is left as it was.',
    );
    return;
  }
  const started = Date.now();
  let server: RedisServerHandle | undefined;
  let workers: BenchWorker[] = [];
  try {
    server = await startRedis({ binary: serverBinary });
    log(`redis: redis-server on 127.0.0.1:${server.port}, ${PROCESSES} worker processes`);
    const meter = server.client();
    workers = await startWorkers(PROCESSES, server.port, CALLERS);
    const report = await measure(meter, server.port, workers, log);
    const text = renderRedis({ ...report, seconds: (Date.now() - started) / 1000 });
    console.log(`\n${text}`);
    if (options.write) log(`redis: wrote ${writeRedisReport(text)}`);
  } finally {
    stopBenchmarks();
    await stopWorkers(workers);
    await server?.stop();
  }
}

async function measure(
  meter: Redis,
  port: number,
  workers: readonly BenchWorker[],
  log: (message: string) => void,
): Promise<Omit<RedisReport, 'seconds'>> {
  const roundTrips = new Map<PathId, { delta: Delta; sequential: SequentialResult }>();
  for (const spec of SELECTED) {
    const before = await settledCounts(meter, COUNT_QUIET_MS);
    const result = await workers[0].request<SequentialResult>({
      cmd: 'sequential',
      path: spec.id,
      calls: SEQUENTIAL_CALLS,
    });
    check(spec.id, result.wrong, SEQUENTIAL_CALLS, result.firstWrong);
    roundTrips.set(spec.id, {
      delta: delta(before, await settledCounts(meter, COUNT_QUIET_MS)),
      sequential: result,
    });
  }
  log('redis: round trips counted');

  const benchmark = ONLY === undefined ? findExecutable('redis-benchmark') : undefined;
  const loads = new Map<string, LoadRun[]>();
  const ceilings = new Map<string, CeilingSample[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < LOADED.length; k++) {
      const path = LOADED[(k + round) % LOADED.length].id;
      for (const fleet of [workers.slice(0, 1), workers]) {
        const key = `${path}/${fleet.length}`;
        loads.set(key, [...(loads.get(key) ?? []), await load(meter, fleet, path)]);
      }
    }
    if (benchmark !== undefined) {
      for (const spec of CEILINGS) {
        const { result, cpuSeconds, cpuShare } = await withRedisCpu(meter, () =>
          redisBenchmark(benchmark, port, meter, spec),
        );
        const redisMicros = (cpuSeconds * 1e6) / spec.requests;
        const sample = { ...result, redisCpu: cpuShare, redisMicros };
        ceilings.set(ceilingKey(spec), [...(ceilings.get(ceilingKey(spec)) ?? []), sample]);
      }
    }
    log(`redis: round ${round + 1}/${ROUNDS}`);
  }
  const info = await meter.info('server');
  return {
    roundTrips: SELECTED.map((spec) => ({ spec, ...roundTrips.get(spec.id)! })),
    throughput: LOADED.map((spec) => ({
      spec,
      one: summarise(loads.get(`${spec.id}/1`)!),
      all: summarise(loads.get(`${spec.id}/${workers.length}`)!),
    })),
    ceilings: CEILINGS.map((spec) => ({ spec, samples: ceilings.get(ceilingKey(spec)) ?? [] })),
    benchmarkMissing: benchmark === undefined,
    redisVersion: /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown',
  };
}

interface LoadRun {
  readonly callsPerSecond: number;
  readonly sent: number;
  readonly total: number;
  readonly incidents: number;
  readonly redisCpu: number;
  readonly redisCpuSeconds: number;
  readonly cpuMicros: number;
}

/** One timed window on `fleet`, all processes started at the same wall-clock time. */
async function load(meter: Redis, fleet: readonly BenchWorker[], path: PathId): Promise<LoadRun> {
  const before = await commandCounts(meter);
  const startAt = Date.now() + START_DELAY_MS;
  const run = () =>
    Promise.all(
      fleet.map((worker) =>
        worker.request<LoadResult>({
          cmd: 'load',
          path,
          callers: CALLERS,
          startAt,
          warmMs: WARM_MS,
          durationMs: WINDOW_MS,
        }),
      ),
    );
  // The drain (outcomes recorded after the calls returned) belongs to the load.
  const measured = await withRedisCpu(meter, async () => {
    const results = await run();
    return { results, after: await settledCounts(meter) };
  });
  const { results, after } = measured.result;
  const sum = (pick: (r: LoadResult) => number) => results.reduce((t, r) => t + pick(r), 0);
  check(
    path,
    sum((r) => r.wrong),
    sum((r) => r.total),
  );
  return {
    callsPerSecond: sum((r) => r.counted) / (WINDOW_MS / 1000),
    sent: delta(before, after).sent,
    total: sum((r) => r.total),
    incidents: sum((r) => r.incidents),
    redisCpu: measured.cpuShare,
    redisCpuSeconds: measured.cpuSeconds,
    cpuMicros: sum((r) => r.cpuMicros),
  };
}

function summarise(runs: readonly LoadRun[]): LoadSummary {
  const rates = runs.map((r) => r.callsPerSecond);
  const total = runs.reduce((t, r) => t + r.total, 0);
  return {
    median: median(rates),
    min: Math.min(...rates),
    max: Math.max(...rates),
    roundTrips: runs.reduce((t, r) => t + r.sent, 0) / total,
    incidents: runs.reduce((t, r) => t + r.incidents, 0),
    redisCpu: median(runs.map((r) => r.redisCpu)),
    clientMicros: runs.reduce((t, r) => t + r.cpuMicros, 0) / total,
    redisMicros: (runs.reduce((t, r) => t + r.redisCpuSeconds, 0) * 1e6) / total,
  };
}

const ceilingKey = (spec: CeilingSpec) => `${spec.label} ${loadOptions(spec)}`;

function check(path: string, wrong: number, calls: number, first?: string): void {
  if (wrong === 0) return;
  throw new Error(
    `redis ${path}: ${wrong} of ${calls} calls ended unexpectedly; the first ${first}`,
  );
}

function findExecutable(name: string): string | undefined {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .map((dir) => join(dir, name))
    .find((candidate) => {
      try {
        accessSync(candidate, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}
