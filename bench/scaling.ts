import { bulkhead } from 'cockatiel';
import pLimit from 'p-limit';
import { BackpressureLayer } from '../lib/backpressure/backpressure.layer.js';
import { BackpressureGuard } from '../lib/index.js';
import { FloorSemaphore } from './floors.js';
import { gc, median, minorGc } from './harness.js';
import { CAP } from './nest-app.js';
import { chainOf } from './scenarios.js';

/** Queue lengths of the O(1) check: per-call cost must stay flat as the queue grows 100-fold. */
export const SCALING_SIZES = [1_000, 10_000, 100_000] as const;
const ROUNDS = 5;
/** Calls per timing at every size, so that small batches are not drowned in timer noise. */
const CALLS_PER_SAMPLE = 100_000;
const NO_ARGS: unknown[] = [];
const op = async (): Promise<number> => 42;
const hrtime = process.hrtime.bigint;

export interface ScalingResult {
  readonly label: string;
  /** Median ns per call for each of `SCALING_SIZES`. */
  readonly nsPerCall: number[];
}

type Launch = () => Promise<unknown>;

/** A fresh limiter per size, sized so that every call queues rather than being refused. */
const candidates: Array<[string, (size: number) => Launch]> = [
  [
    'ours: Chain of layers',
    () => {
      const chain = chainOf([new BackpressureLayer(new BackpressureGuard(CAP))]);
      return () => chain.invoke(undefined, NO_ARGS) as Promise<unknown>;
    },
  ],
  [
    'cockatiel bulkhead',
    (size) => {
      const policy = bulkhead(10, size);
      return () => policy.execute(op);
    },
  ],
  [
    'p-limit',
    () => {
      const limit = pLimit(10);
      return () => limit(op);
    },
  ],
  [
    'hand-written semaphore',
    () => {
      const semaphore = new FloorSemaphore(10);
      return () => semaphore.run(op);
    },
  ],
];

async function timeBatch(launch: Launch, size: number, calls = CALLS_PER_SAMPLE): Promise<number> {
  const promises: Promise<unknown>[] = new Array(size);
  const batches = Math.max(1, Math.round(calls / size));
  const start = hrtime();
  for (let b = 0; b < batches; b++) {
    for (let i = 0; i < size; i++) promises[i] = launch();
    await Promise.all(promises);
  }
  return Number(hrtime() - start) / (size * batches);
}

/** Interleaves the candidates at each size, after one untimed batch each. */
export async function measureScaling(): Promise<ScalingResult[]> {
  const samples = candidates.map(() => SCALING_SIZES.map(() => [] as number[]));
  for (const [s, size] of SCALING_SIZES.entries()) {
    const launches = candidates.map(([, create]) => create(size));
    gc(); // once per size, not per batch: see runInterleaved
    for (const launch of launches) await timeBatch(launch, size, size);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [c, launch] of launches.entries()) {
        minorGc(); // as in runInterleaved
        samples[c][s].push(await timeBatch(launch, size));
      }
    }
  }
  return candidates.map(([label], c) => ({ label, nsPerCall: samples[c].map(median) }));
}
