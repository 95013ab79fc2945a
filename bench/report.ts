import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { RowResult } from './harness.js';
import type { HeapResult } from './dedupe.js';
import { HEAP_KEYS } from './dedupe.js';
import type { ScalingResult } from './scaling.js';
import { SCALING_SIZES } from './scaling.js';
import { SCENARIOS } from './scenarios.js';
import { bytes, markdownTable, megabytes, ns, ratio } from './table.js';
import type { TargetCheck } from './targets.js';

export const COMMAND = 'npm run bench';
const ROOT = new URL('../../', import.meta.url);

export interface Report {
  readonly results: readonly RowResult[];
  readonly targets: readonly TargetCheck[];
  readonly scaling: readonly ScalingResult[];
  readonly heap: readonly HeapResult[];
  readonly rounds: number;
  readonly seconds: number;
}

export function render(report: Report): string {
  return [
    `Medians of ${report.rounds} interleaved rounds, ns per call (min and max beside them).`,
    'x raw: median over the raw call; x best peer: median over the fastest cockatiel, opossum or',
    'p-limit row of the same scenario.',
    '',
    ...SCENARIOS.flatMap((s) => scenarioSection(s.id, s.title, report.results)),
    '### Targets of issue 7',
    '',
    targetsTable(report.targets),
    '',
    '### Concurrency cap 10: ns per call as the queue grows',
    '',
    scalingTable(report.scaling),
    '',
    `### Heap: ${HEAP_KEYS.toLocaleString('en-US')} distinct dedupe keys in flight`,
    '',
    heapTable(report.heap),
    '',
    '### Machine and versions',
    '',
    ...environment(report.seconds),
  ].join('\n');
}

function scenarioSection(id: string, title: string, results: readonly RowResult[]): string[] {
  const rows = results.filter((r) => r.row.scenario === id);
  if (rows.length === 0) return [];
  const raw = results.find((r) => r.row.kind === 'raw')?.median;
  const peers = rows.filter((r) => r.row.kind === 'peer').map((r) => r.median);
  const bestPeer = peers.length > 0 ? Math.min(...peers) : undefined;
  const table = markdownTable(
    ['row', 'min', 'median', 'max', 'x raw', 'x best peer', 'note'],
    ['left', 'right', 'right', 'right', 'right', 'right', 'left'],
    rows.map((r) => [
      r.row.label,
      ns(r.min),
      ns(r.median),
      ns(r.max),
      ratio(r.median, raw),
      ratio(r.median, bestPeer),
      r.note,
    ]),
  );
  return [`### ${title}`, '', table, ''];
}

function targetsTable(checks: readonly TargetCheck[]): string {
  return markdownTable(
    ['target', 'row', 'median (ns)', 'limit (ns)', 'met'],
    ['left', 'left', 'right', 'left', 'left'],
    checks.map((c) => [c.target, c.row, c.measured, c.limit, c.met ? 'yes' : 'NO']),
  );
}

function scalingTable(results: readonly ScalingResult[]): string {
  const sizes = SCALING_SIZES.map((n) => `${n.toLocaleString('en-US')} at once`);
  return markdownTable(
    ['row', ...sizes],
    ['left', ...sizes.map(() => 'right' as const)],
    results.map((r) => [r.label, ...r.nsPerCall.map(ns)]),
  );
}

function heapTable(results: readonly HeapResult[]): string {
  return markdownTable(
    ['row', 'in flight (MB)', 'bytes per key', 'left after settling (MB)'],
    ['left', 'right', 'right', 'right'],
    results.map((r) => [
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

function environment(seconds: number): string[] {
  const own = JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as {
    version: string;
  };
  const cpus = os.cpus();
  const peers = ['cockatiel', 'opossum', 'p-limit', '@nestjs/core', 'typescript'];
  return [
    `- Machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ` +
      `${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}; shared and noisy.`,
    `- Node ${process.version} (V8 ${process.versions.v8}), nestjs-orchestrator ${own.version}; ` +
      peers.map((p) => `${p} ${versionOf(p)}`).join(', ') +
      '.',
    `- Command: \`${COMMAND}\` (\`tsc -p bench/tsconfig.json && node --expose-gc dist-bench/bench/run.js\`).`,
    `- Run on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; took ${Math.round(seconds)} s.`,
  ];
}
