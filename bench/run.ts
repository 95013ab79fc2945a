import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dedupeRows, measureHeap } from './dedupe.js';
import { runInterleaved } from './harness.js';
import { createBenchApp } from './nest-app.js';
import { observabilityRows } from './observability.js';
import { benchRedis } from './redis/index.js';
import { render } from './report.js';
import { measureScaling } from './scaling.js';
import { buildRows, cleanups } from './scenarios.js';
import { checkTargets } from './targets.js';

/** Rounds are odd so the median is a measured value. `BENCH_ROUNDS` shortens a trial run. */
const plan = {
  warmupRounds: 3,
  rounds: Number(process.env.BENCH_ROUNDS ?? 41),
};
const OUTPUT = new URL('../../BENCHMARKS.md', import.meta.url);
const BEGIN = '<!-- bench:begin (written by npm run bench) -->';
const END = '<!-- bench:end -->';

const log = (message: string) => console.error(`[bench] ${message}`);

async function main(): Promise<void> {
  if ((globalThis as { gc?: unknown }).gc === undefined) {
    throw new Error('run with node --expose-gc (npm run bench does)');
  }
  const started = Date.now();
  const app = await createBenchApp();
  const observability = await observabilityRows();
  try {
    const rows = [
      ...(await buildRows(app.service)),
      ...dedupeRows(app.service),
      ...observability.rows,
    ];
    const results = await runInterleaved(rows, plan, log);
    log('queue scaling');
    const scaling = await measureScaling();
    log('heap');
    const heap = await measureHeap();
    const targets = checkTargets(results, scaling);
    const seconds = (Date.now() - started) / 1000;
    const text = render({ results, targets, scaling, heap, rounds: plan.rounds, seconds });
    console.log(text);
    if (process.env.BENCH_ROUNDS === undefined) writeReport(text);
  } finally {
    await app.context.close();
    await observability.close();
    for (const cleanup of cleanups) cleanup();
  }
  // After the in-memory rows; BENCH_REDIS=0 skips it. Writes its own block of BENCHMARKS.md.
  await benchRedis({ write: process.env.BENCH_ROUNDS === undefined, log });
}

/**
 * Replaces only the generated part of BENCHMARKS.md: the reading around it is written by hand
 * and survives a rerun.
 */
function writeReport(text: string): void {
  const block = `${BEGIN}\n\n${text}\n\n${END}`;
  const current = existsSync(OUTPUT) ? readFileSync(OUTPUT, 'utf8') : '';
  const begin = current.indexOf(BEGIN);
  const end = current.indexOf(END);
  const next =
    begin !== -1 && end > begin
      ? current.slice(0, begin) + block + current.slice(end + END.length)
      : `# Benchmarks\n\n${block}\n`;
  writeFileSync(OUTPUT, next);
  log(`wrote ${OUTPUT.pathname}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
