/**
 * A small interleaved harness: every row of every library takes one timing per round, in
 * round-robin order, after a warm-up, so that machine noise (other processes, CPU frequency,
 * GC state) spreads over all of them instead of favouring whoever ran in a quiet moment.
 */

/** Who a row measures: our library, a peer library, a hand-written floor, or the raw call. */
export type RowKind = 'raw' | 'ours' | 'peer' | 'floor';

/** What a row is, without its code: what a result carries from a bench process to the report. */
export interface RowInfo {
  readonly scenario: string;
  readonly label: string;
  readonly kind: RowKind;
}

export interface Row extends RowInfo {
  /** Prepares the row's iteration count from a short trial; called once, after warm-up. */
  calibrate(): Promise<void>;
  /** One timing: nanoseconds per call. */
  sample(): Promise<number>;
  /** Shown next to the numbers (executions counted, slow-down across batches). */
  note?(samples: readonly number[]): string;
}

export interface RowResult {
  readonly row: RowInfo;
  readonly samples: number[];
  readonly min: number;
  readonly median: number;
  readonly max: number;
  readonly note: string;
}

export interface RunPlan {
  readonly warmupRounds: number;
  readonly rounds: number;
}

const hrtime = process.hrtime.bigint;
/** Length of one timing: dwarfs timer resolution, yet short enough to interleave finely. */
const SAMPLE_NS = 20e6;

type Loop = (fn: () => unknown, n: number, now: () => bigint) => Promise<[number, number]>;
const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (
  ...source: string[]
) => Loop;

/**
 * A fresh copy of the timing loop per row, compiled from source: V8 shares inline caches between
 * closures of one function, so a shared loop would see every row's callee and go megamorphic,
 * charging each row for the others. Each copy stays monomorphic, like a hand-rolled loop.
 */
function freshLoop(): Loop {
  return new AsyncFunction(
    'fn',
    'n',
    'now',
    `let failed = 0;
     const start = now();
     for (let i = 0; i < n; i++) {
       try { await fn(); } catch { failed++; }
     }
     return [Number(now() - start), failed];`,
  );
}

type GcOptions = {
  type?: 'major' | 'minor';
  execution?: 'sync' | 'async';
  flavor?: 'regular' | 'last-resort';
};
const collect = (options?: GcOptions) =>
  (globalThis as { gc?: (o?: GcOptions) => void }).gc?.(options);

/** A full collection: before heap readings and before the measured rounds. */
export function gc(): void {
  collect();
}

/**
 * For heap readings, after a regular full collection (`gc`). On Node 26 (V8 14) a regular one
 * alone left garbage counted in `heapUsed` that a later collection freed, so readings swung by
 * over 100 MB between candidates, some negative; on Node 20 the last-resort one alone did the
 * same. The two in turn read steady figures on both (checked on this harness's heap part).
 */
export function heapGc(): void {
  collect({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}

/**
 * A young-generation collection before each timing, so a row does not pay for the short-lived
 * garbage the previous row left. Not a full one: a forced full collection shrinks the young
 * generation, and rows that store young objects into old ones (slot and lease tables) then ran
 * up to 3x slower than in a steady process. Old garbage is still collected whenever V8 decides,
 * in whichever row; the rotation spreads that cost evenly.
 */
export function minorGc(): void {
  collect({ type: 'minor' });
}

/** Iterations whose timing lasts about `SAMPLE_NS`, given the cost of one call. */
function iterationsFor(nsPerCall: number, min = 1_000): number {
  return Math.max(min, Math.round(SAMPLE_NS / Math.max(1, nsPerCall)));
}

export interface SequentialSpec {
  readonly scenario: string;
  readonly label: string;
  readonly kind: RowKind;
  /** One protected call; awaited before the next starts. */
  readonly call: () => Promise<unknown>;
  /** Whether every call must resolve or every call must reject (checked on every timing). */
  readonly expect: 'resolve' | 'reject';
}

/** A row timing calls made one after another, each awaited: the per-call latency path. */
export function sequentialRow(spec: SequentialSpec): Row {
  const loop = freshLoop();
  let n = 1_000;
  const run = async (count: number) => {
    const [ns, failed] = await loop(spec.call, count, hrtime);
    const expected = spec.expect === 'reject' ? count : 0;
    if (failed !== expected) {
      throw new Error(`${spec.label}: ${failed} of ${count} calls rejected, expected ${expected}`);
    }
    return ns / count;
  };
  return {
    ...spec,
    async calibrate() {
      n = iterationsFor(await run(n));
    },
    sample: () => run(n),
  };
}

export interface BatchSpec {
  readonly scenario: string;
  readonly label: string;
  readonly kind: RowKind;
  /** Calls started at once, all awaited together. */
  readonly size: number;
  readonly call: () => Promise<unknown>;
}

/**
 * Batches per timing: one batch of 10,000 queued calls is dominated by when the collector
 * happens to run, so a timing averages a few.
 */
const BATCHES_PER_SAMPLE = 3;

/** A row timing `size` calls started at once: queueing cost under a concurrency cap. */
export function batchRow(spec: BatchSpec): Row {
  const promises: Promise<unknown>[] = new Array(spec.size);
  return {
    ...spec,
    calibrate: async () => undefined,
    async sample() {
      const start = hrtime();
      for (let b = 0; b < BATCHES_PER_SAMPLE; b++) {
        for (let i = 0; i < spec.size; i++) promises[i] = spec.call();
        await Promise.all(promises);
      }
      return Number(hrtime() - start) / (spec.size * BATCHES_PER_SAMPLE);
    },
    note: (samples) => `drift ${driftText(samples)}`,
  };
}

/** Median of the last third of the samples over the first third: above 1 means slowing down. */
export function drift(samples: readonly number[]): number {
  const third = Math.max(1, Math.floor(samples.length / 3));
  return median(samples.slice(-third)) / median(samples.slice(0, third));
}

function driftText(samples: readonly number[]): string {
  return `x${drift(samples).toFixed(2)}`;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Warm-up rounds (discarded), calibration, then the measured rounds. Each round visits every row
 * once, starting one row later than the round before, so no row always runs first or last.
 */
export async function runInterleaved(
  rows: readonly Row[],
  plan: RunPlan,
  progress: (message: string) => void,
): Promise<RowResult[]> {
  for (let round = 0; round < plan.warmupRounds; round++) {
    for (const row of rows) await row.sample();
  }
  for (const row of rows) await row.calibrate();
  progress(`warm-up done, ${rows.length} rows x ${plan.rounds} rounds`);
  const samples = rows.map(() => [] as number[]);
  gc();
  for (let round = 0; round < plan.rounds; round++) {
    for (let k = 0; k < rows.length; k++) {
      const index = (k + round) % rows.length;
      minorGc();
      samples[index].push(await rows[index].sample());
    }
    if ((round + 1) % 5 === 0) progress(`round ${round + 1}/${plan.rounds}`);
  }
  return rows.map((row, i) => summarise(row, samples[i]));
}

function summarise(row: Row, samples: number[]): RowResult {
  return {
    row: { scenario: row.scenario, label: row.label, kind: row.kind },
    samples,
    min: Math.min(...samples),
    median: median(samples),
    max: Math.max(...samples),
    note: row.note?.(samples) ?? '',
  };
}
