// The soak test (issue 14): N workers hammer one private redis-server for M seconds while faults
// are injected at random, and every invariant is checked as the workers report. Run it with
// `npm run soak -- --workers 4 --seconds 60` (or SOAK_WORKERS / SOAK_SECONDS; --help lists the
// flags); it exits 1 on a violation. The bounds are the ones docs/redis.md documents.
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { keysWithoutTtl, startRedis, type RedisServerHandle } from '../support/redis/index.js';
import { FaultInjector } from './fault-injector.js';
import { FaultLog } from './fault-log.js';
import { HeapWatch } from './heap-watch.js';
import { Invariants } from './invariants.js';
import { SoakFleet } from './soak-fleet.js';
import type { SoakSettings } from './soak-protocol.js';
import { printSummary } from './summary.js';

/** After a fault has healed for this long the exact cap holds again. */
const HEAL_MS = 1500;
const HEAP_WARM_UP_MS = 20_000;
const HEAP_MAX_GROWTH = 0.5;
const CHECK_EVERY_MS = 1000;
const TTL_SCAN_EVERY_MS = 3000;
/** Beyond `--seconds`: starting the workers (each retried), stopping them, the summary. */
const OVERALL_MARGIN_S = 180;

const HELP = `npm run soak -- [--workers N] [--seconds M] [--timeout S] [--worker-pauses]

  --workers N        worker processes (SOAK_WORKERS; default 4, at least 2); capacity is 2 N
  --seconds M        how long faults are injected (SOAK_SECONDS; default 60, at least 10)
  --timeout S        the most the whole run may take, start-up and stop included (default
                     M + ${OVERALL_MARGIN_S}); past it the soak ends its children and exits 3
  --worker-pauses    also SIGSTOP a worker for 0.6 to 1.3 leases at a time, a check that the
                     checker tells a lease lost to a stall from a broken cap
Exit code: 0 clean, 1 a violation, 2 an error, 3 the overall timeout, 130 / 143 SIGINT /
SIGTERM. redis-server and every worker end with the soak on every path.`;

interface SoakOptions {
  workers: number;
  seconds: number;
  timeoutS: number;
  workerPauses: boolean;
}

function readOptions(): SoakOptions | undefined {
  const { values } = parseArgs({
    options: {
      workers: { type: 'string' },
      seconds: { type: 'string' },
      timeout: { type: 'string' },
      'worker-pauses': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return undefined;
  const workers = Number(values.workers ?? process.env.SOAK_WORKERS ?? 4);
  const seconds = Number(values.seconds ?? process.env.SOAK_SECONDS ?? 60);
  if (!Number.isInteger(workers) || workers < 2) throw new Error('--workers: an integer >= 2');
  if (!(seconds >= 10)) throw new Error('--seconds: a number >= 10');
  const timeoutS = Number(values.timeout ?? seconds + OVERALL_MARGIN_S);
  if (!(timeoutS > 0)) throw new Error('--timeout: a number of seconds > 0');
  return { workers, seconds, timeoutS, workerPauses: values['worker-pauses'] };
}

/**
 * Whatever ends the soak ends its children: on exit the workers are SIGKILLed (a worker also
 * exits when the parent goes, unless it is stopped) and redis-server too (test/support kills
 * it on exit, and the kernel does if the parent is killed). SIGINT, SIGTERM and the overall
 * timeout exit, so CI can never hang on it.
 */
function endChildrenOnExit(fleet: SoakFleet, timeoutS: number): void {
  process.once('exit', () => fleet.killAll());
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.once(signal, () => {
      console.error(`soak: ${signal}: stopping redis-server and the workers`);
      process.exit(code);
    });
  }
  setTimeout(() => {
    console.error(`soak: not done after ${timeoutS} s (overall timeout): stopped`);
    process.exit(3);
  }, timeoutS * 1000).unref();
}

function settingsFor(workers: number, port: number): SoakSettings {
  return {
    port,
    keyPrefix: 'soak:',
    workers,
    capacity: 2 * workers,
    leaseMs: 3000,
    maxWaitMs: 1000,
    operationTimeoutMs: 500,
    // Below HEAL_MS, so a store that went degraded in a fault is back on Redis in time.
    degradedCooldownMs: 500,
    backpressureCallers: 5,
    dedupeCallers: 4,
    holdMs: [20, 200],
    workMs: [50, 300],
    pauseBetweenCallsMs: [0, 30],
    keyWindowMs: 2000,
    keysPerWindow: 8,
    dedupeTtlMs: 10_000,
    heapSampleMs: 5000,
  };
}

/** A private server; DEBUG SLEEP enabled for the slow-command fault. */
async function startServer(): Promise<RedisServerHandle> {
  const args = ['--maxmemory-policy', 'noeviction'];
  try {
    return await startRedis({ args: [...args, '--enable-debug-command', 'yes'] });
  } catch {
    return startRedis({ args });
  }
}

/** Every key the stores wrote must expire: PTTL -1 is a violation. */
async function scanTtls(server: RedisServerHandle, invariants: Invariants, stats: ScanStats) {
  const client = server.client({ commandTimeout: 1000 });
  while (!stats.stopped) {
    await delay(TTL_SCAN_EVERY_MS);
    try {
      const missing = await keysWithoutTtl(client);
      stats.scans++;
      for (const key of missing) invariants.violations.push(ttlViolation(key));
    } catch {
      stats.failedScans++; // Redis paused or restarting: the next scan covers it.
    }
  }
  client.disconnect();
}

interface ScanStats {
  scans: number;
  failedScans: number;
  stopped: boolean;
}

const elapsed = (since: number) => ((performance.now() - since) / 1000).toFixed(1);

const ttlViolation = (key: string) => ({
  at: performance.now(),
  invariant: 'every key has a TTL',
  detail: `${key} has no expiry`,
});

async function main(): Promise<number> {
  const options = readOptions();
  if (options === undefined) {
    console.log(HELP);
    return 0;
  }
  const { workers, seconds, timeoutS, workerPauses } = options;
  const server = await startServer();
  const settings = settingsFor(workers, server.port);
  const faults = new FaultLog(HEAL_MS);
  const invariants = new Invariants(settings, faults, HEAL_MS);
  const heap = new HeapWatch(HEAP_WARM_UP_MS, Math.min(20_000, (seconds * 1000) / 4));
  const fleet = new SoakFleet(settings, invariants, heap);
  endChildrenOnExit(fleet, timeoutS);
  const admin = server.client({ commandTimeout: 5000 });
  const gapMs: [number, number] = [3000, 8000];
  const injector = new FaultInjector(
    server,
    admin,
    fleet,
    faults,
    gapMs,
    settings.leaseMs,
    workerPauses,
  );
  const scans: ScanStats = { scans: 0, failedScans: 0, stopped: false };
  const startedAt = performance.now();
  console.log(
    `soak: ${workers} workers, ${seconds} s, redis-server on port ${server.port}` +
      (workerPauses ? ', with worker pauses' : ''),
  );
  try {
    // One at a time: each compiles the library on start-up, and a busy machine is slow at it.
    for (let i = 0; i < workers; i++) await fleet.spawn();
    console.log(`soak: workers ready after ${elapsed(startedAt)} s; faults every 3-8 s`);
    const scanning = scanTtls(server, invariants, scans);
    injector.start();
    const checker = setInterval(() => {
      invariants.checkUnsettled();
      invariants.cap.decide();
      invariants.decideRepeats(performance.now());
      invariants.settleKeys(performance.now());
      faults.prune(performance.now(), 120_000);
    }, CHECK_EVERY_MS);
    await delay(seconds * 1000);
    await injector.stop();
    console.log(`soak: stopping the workers after ${elapsed(startedAt)} s`);
    await fleet.stop();
    clearInterval(checker);
    invariants.checkUnsettled(Number.POSITIVE_INFINITY);
    invariants.cap.decide(true);
    invariants.decideRepeats(performance.now(), true);
    invariants.settleKeys(performance.now(), true);
    scans.stopped = true;
    await scanning;
  } finally {
    admin.disconnect();
    await fleet.stop();
    await server.stop();
  }
  const heapVerdicts = heap.verdicts();
  for (const v of heapVerdicts.filter((v) => v.growth > HEAP_MAX_GROWTH))
    invariants.violations.push({
      at: performance.now(),
      invariant: 'memory flat',
      detail: `worker ${v.worker} heap ${v.baseline} -> ${v.end} bytes (+${Math.round(v.growth * 100)} %)`,
    });
  return printSummary({
    settings,
    seconds: (performance.now() - startedAt) / 1000,
    invariants,
    faults,
    injector,
    heapVerdicts,
    scans,
    unhandled: fleet.unhandled,
    notes: fleet.notes,
    healMs: HEAL_MS,
  });
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(2);
  },
);
