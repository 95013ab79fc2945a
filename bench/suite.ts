import { writeFileSync } from 'node:fs';
import { dedupeRows, measureHeap, type HeapResult } from './dedupe.js';
import { runInterleaved, type Row, type RowResult } from './harness.js';
import { createBenchApp } from './nest-app.js';
import { observabilityRows } from './observability.js';
import { measureScaling, type ScalingResult } from './scaling.js';
import { buildRows, cleanups } from './scenarios.js';
import { windowRows } from './windows.js';

/**
 * The in-memory suite on the Node that runs this file. `npm run bench` (bench/run.ts) starts it
 * once per Node version and reads its results from the JSON file named by `BENCH_OUT`.
 *
 *   BENCH_ONLY=closed,stack   only these scenarios (plus the raw call), no scaling or heap part
 *   BENCH_ROWS=standalone     only rows whose label contains this text (plus the raw call)
 *   BENCH_ROUNDS=5            fewer rounds [41]
 *
 * With `BENCH_ONLY` or `BENCH_ROWS` set it suits a CPU profile of one scenario:
 *   BENCH_ONLY=cap BENCH_ROWS=Chain node --expose-gc --cpu-prof dist-bench/bench/suite.js
 */
export interface SuiteResult {
  readonly node: string;
  readonly v8: string;
  readonly rounds: number;
  readonly seconds: number;
  readonly results: RowResult[];
  readonly scaling: ScalingResult[];
  readonly heap: HeapResult[];
}

const plan = { warmupRounds: 3, rounds: Number(process.env.BENCH_ROUNDS ?? 41) };
const only = process.env.BENCH_ONLY?.split(',');
const labelPart = process.env.BENCH_ROWS;
const partial = only !== undefined || labelPart !== undefined;
const log = (message: string) => console.error(`[bench ${process.version}] ${message}`);

function selected(row: Row): boolean {
  if (row.kind === 'raw') return true;
  if (only !== undefined && !only.includes(row.scenario)) return false;
  return labelPart === undefined || row.label.includes(labelPart);
}

async function main(): Promise<void> {
  if ((globalThis as { gc?: unknown }).gc === undefined) {
    throw new Error('run with node --expose-gc (npm run bench does)');
  }
  const started = Date.now();
  const app = await createBenchApp();
  const observability = await observabilityRows();
  try {
    const rows = [
      ...(await buildRows(app)),
      ...dedupeRows(app.service),
      ...observability.rows,
      ...windowRows(),
    ].filter(selected);
    const results = await runInterleaved(rows, plan, log);
    log('queue scaling');
    const scaling = partial ? [] : await measureScaling();
    log('heap');
    const heap = partial ? [] : await measureHeap();
    const suite: SuiteResult = {
      node: process.version,
      v8: process.versions.v8,
      rounds: plan.rounds,
      seconds: (Date.now() - started) / 1000,
      results,
      scaling,
      heap,
    };
    if (process.env.BENCH_OUT !== undefined)
      writeFileSync(process.env.BENCH_OUT, JSON.stringify(suite));
    else
      for (const r of results)
        console.log(`${r.row.scenario} | ${r.row.label} | ${Math.round(r.median)}`);
  } finally {
    await app.context.close();
    await observability.close();
    for (const cleanup of cleanups) cleanup();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
