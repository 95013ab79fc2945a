import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeBinaries, nodeLines } from './nodes.js';
import { benchRedis } from './redis/index.js';
import { render } from './report.js';
import type { SuiteResult } from './suite.js';

/**
 * `npm run bench`: the in-memory suite (bench/suite.ts) on the current LTS Node and on the
 * oldest supported one, one process each, one after the other; then one report with both side
 * by side, the targets judged on the current LTS. `BENCH_ROUNDS` shortens a trial run (prints,
 * leaves BENCHMARKS.md alone); `BENCH_REDIS=0` skips the Redis part.
 */
const OUTPUT = new URL('../../BENCHMARKS.md', import.meta.url);
const SUITE = fileURLToPath(new URL('./suite.js', import.meta.url));
const BEGIN = '<!-- bench:begin (written by npm run bench) -->';
const END = '<!-- bench:end -->';

const log = (message: string) => console.error(`[bench] ${message}`);

async function main(): Promise<void> {
  const started = Date.now();
  const load = loadAverage();
  const lines = nodeLines();
  const binaries = nodeBinaries(lines);
  const scratch = mkdtempSync(join(tmpdir(), 'bench-'));
  const suites: SuiteResult[] = [];
  try {
    for (const [i, binary] of binaries.entries()) {
      const out = join(scratch, `node-${lines[i].major}.json`);
      log(`in-memory suite on ${binary}`);
      await runSuite(binary, out);
      suites.push(JSON.parse(readFileSync(out, 'utf8')) as SuiteResult);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const seconds = (Date.now() - started) / 1000;
  const text = render({ suites, lines, seconds, load: [load, loadAverage()] });
  console.log(text);
  if (process.env.BENCH_ROUNDS === undefined) writeReport(text);
  // After the in-memory suites, on this process's Node; writes its own block of BENCHMARKS.md.
  await benchRedis({ write: process.env.BENCH_ROUNDS === undefined, log });
}

function runSuite(binary: string, out: string): Promise<void> {
  const child = spawn(binary, ['--expose-gc', SUITE], {
    env: { ...process.env, BENCH_OUT: out },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${binary}: exit ${code ?? signal}`)),
    );
  });
}

/** The 1-minute load average (Linux), to say how quiet the machine was. */
function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(', ');
  } catch {
    return 'unknown';
  }
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
