import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { BackpressureGuard } from '../../lib/backpressure/backpressure.policy.js';
import { Chain } from '../../lib/core/layer.js';
import { DedupeLayer } from '../../lib/dedupe/dedupe.layer.js';
import { Deduplicator } from '../../lib/dedupe/deduplicator.js';
import { redisStores, type RedisStores } from '../../lib/redis/index.js';
import { report, serve, sleep } from '../redis/workers/worker-runtime.js';
import {
  epochNow,
  toEpoch,
  type SoakSettings,
  type WorkerMessage,
  type WorkerReport,
} from './soak-protocol.js';

/**
 * One soak worker: the library's Redis stores (built by `redisStores`, which creates the client
 * with its safe defaults) behind a backpressure guard and a dedupe chain, called in loops until
 * the parent stops it. Entering and leaving a protected call is reported with `report()`, which
 * waits for the parent's ack, so the parent's count of calls in flight is never below the real
 * one. Everything else (call starts and ends, heap, store events) is fire-and-forget.
 */

let settings: SoakSettings;
let stores: RedisStores;
let guard: BackpressureGuard;
let dedupeChain: Chain;
let running = true;
let loops: Promise<unknown> = Promise.resolve();
let nextCallId = 0;
/** When the event loop was last seen running (see `checkStall`). */
let lastSeenRunning = performance.now();
const STALL_TICK_MS = 100;

// Lets the worker collect garbage before sampling its heap, so the samples compare live data.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/** Every message is preceded by the report of a stall it follows (see `checkStall`). */
function tell(message: WorkerMessage): void {
  if (message.kind !== 'stall') checkStall();
  if (process.connected) process.send!({ type: 'soak', ...message });
}

function reportAfterStalls(payload: WorkerReport): Promise<unknown> {
  checkStall();
  return report(payload);
}

const between = ([low, high]: [number, number]) => low + Math.random() * (high - low);

/** Tells the parent when a call starts and settles, so it can flag one that never does. */
async function tracked(kind: 'bp' | 'dd', call: (id: string) => Promise<unknown>): Promise<void> {
  const id = `${process.pid}-${++nextCallId}`;
  tell({ kind: 'call-start', id, call: kind });
  try {
    await call(id);
    tell({ kind: 'call-end', id, outcome: 'ok' });
  } catch (error) {
    tell({ kind: 'call-end', id, outcome: (error as { code?: string }).code ?? 'error' });
  }
}

/** The protected method of the backpressure loops: it reports its own start and end. */
async function backpressureCall(slot: string): Promise<void> {
  const askedAt = epochNow();
  const permit = await guard.acquire();
  try {
    await reportAfterStalls({ type: 'enter', slot, at: epochNow(), askedAt });
    await sleep(between(settings.holdMs));
    await reportAfterStalls({ type: 'exit', slot });
  } finally {
    permit.release();
  }
}

/** The deduped method: its body runs once per execution, which the parent counts per key. */
async function execute(key: string): Promise<unknown> {
  await reportAfterStalls({ type: 'exec-start', key });
  await sleep(between(settings.workMs));
  await reportAfterStalls({ type: 'exec-end', key });
  return { key, by: process.pid };
}

/** Keys belong to a time window; each is asked for by many callers during its window. */
function currentKey(): string {
  const window = Math.floor(Date.now() / settings.keyWindowMs);
  return `w${window}-k${Math.floor(Math.random() * settings.keysPerWindow)}`;
}

async function backpressureLoop(): Promise<void> {
  while (running) {
    await tracked('bp', backpressureCall);
    await sleep(between(settings.pauseBetweenCallsMs));
  }
}

async function dedupeLoop(): Promise<void> {
  while (running) {
    await tracked('dd', () => dedupeChain.run(undefined, [currentKey()]));
    await sleep(between(settings.pauseBetweenCallsMs));
  }
}

/**
 * A holder paused for longer than `leaseMs` less a renewal interval may lose its slot or claim
 * while its call still runs, and if its call ends before its next renewal no
 * `redis.lease-lost` is reported: say so. Checked every tick and before every other message,
 * so the parent hears of a stall before anything the worker did after it.
 */
function checkStall(): void {
  const now = performance.now();
  const stalledMs = now - lastSeenRunning - STALL_TICK_MS;
  if (stalledMs >= settings.leaseMs / 3) {
    const [from, to] = [toEpoch(lastSeenRunning), toEpoch(now)];
    tell({ kind: 'stall', ms: Math.round(stalledMs), from, to });
  }
  lastSeenRunning = now;
}

function watchStalls(): NodeJS.Timeout {
  lastSeenRunning = performance.now();
  return setInterval(checkStall, STALL_TICK_MS);
}

function sampleHeap(): void {
  collectGarbage();
  tell({ kind: 'heap', heapUsed: process.memoryUsage().heapUsed });
}

function build(init: SoakSettings): void {
  settings = init;
  const { capacity, leaseMs, maxWaitMs, workers, dedupeTtlMs } = settings;
  stores = redisStores(
    { host: '127.0.0.1', port: settings.port },
    {
      keyPrefix: settings.keyPrefix,
      operationTimeoutMs: settings.operationTimeoutMs,
      degradedCooldownMs: settings.degradedCooldownMs,
      checkClient: false,
      logger: { warn: () => undefined, error: () => undefined },
      onEvent: (event) => tell({ kind: 'store-event', event: event.type, at: epochNow() }),
      backpressure: { replicasHint: workers },
    },
  );
  guard = new BackpressureGuard({ capacity, leaseMs, maxWaitMs }, stores.backpressure, {
    name: 'soak-bp',
  });
  const deduplicator = new Deduplicator(
    { leaseMs, ttlMs: dedupeTtlMs, key: (key: string) => key },
    stores.dedupe,
    { name: 'soak-dd' },
  );
  dedupeChain = new Chain([new DedupeLayer(deduplicator)], execute, 'promise');
}

serve((init) => build(init as unknown as SoakSettings), {
  start() {
    sampleHeap();
    const sampler = setInterval(sampleHeap, settings.heapSampleMs);
    const stallWatch = watchStalls();
    loops = Promise.all([
      ...Array.from({ length: settings.backpressureCallers }, backpressureLoop),
      ...Array.from({ length: settings.dedupeCallers }, dedupeLoop),
    ]).finally(() => {
      clearInterval(sampler);
      clearInterval(stallWatch);
    });
  },
  /** Lets every loop finish its call (each is bounded), then closes the stores. */
  async stop() {
    running = false;
    await loops;
    await stores.close();
  },
});
