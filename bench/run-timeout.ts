import { runInterleaved, sequentialRow, type RowResult } from './harness.js';
import { markdownTable, ns } from './table.js';
import { checkTimeout, type TargetCheck } from './targets.js';
import { TIMEOUT_SCENARIOS, timeoutScenarioRows } from './timeout.js';

/**
 * Runs only the timeout and fallback scenarios (issue 12), with the raw call for reference, and
 * prints their medians and the timeout target. Never writes BENCHMARKS.md.
 *
 *   tsc -p bench/tsconfig.json && node --expose-gc dist-bench/bench/run-timeout.js
 *
 * `BENCH_ROUNDS` sets the rounds [21].
 */
const plan = { warmupRounds: 3, rounds: Number(process.env.BENCH_ROUNDS ?? 21) };
const log = (message: string) => console.error(`[bench] ${message}`);

async function main(): Promise<void> {
  if ((globalThis as { gc?: unknown }).gc === undefined) {
    throw new Error('run with node --expose-gc');
  }
  const raw = sequentialRow({
    scenario: 'raw',
    label: 'raw',
    kind: 'raw',
    call: async () => 42,
    expect: 'resolve',
  });
  const results = await runInterleaved([raw, ...timeoutScenarioRows()], plan, log);
  console.log(`Medians of ${plan.rounds} interleaved rounds, ns per call.\n`);
  for (const { id, title } of [{ id: 'raw', title: 'raw call' }, ...TIMEOUT_SCENARIOS]) {
    console.log(`### ${title}\n\n${table(results.filter((r) => r.row.scenario === id))}\n`);
  }
  const targets: TargetCheck[] = [];
  checkTimeout(targets, results);
  for (const t of targets) {
    console.log(`${t.target}: ${t.measured} ns, limit ${t.limit}: ${t.met ? 'met' : 'NOT met'}`);
  }
}

function table(results: readonly RowResult[]): string {
  return markdownTable(
    ['row', 'min', 'median', 'max'],
    ['left', 'right', 'right', 'right'],
    results.map((r) => [r.row.label, ns(r.min), ns(r.median), ns(r.max)]),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
