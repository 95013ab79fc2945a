import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { median } from '../harness.js';
import { markdownTable } from '../table.js';
import { loadOptions } from './ceiling.js';
import {
  CALLERS,
  PROCESSES,
  ROUNDS,
  SEQUENTIAL_CALLS,
  WINDOW_MS,
  type LoadSummary,
} from './config.js';
import { rate, type RedisReport } from './results.js';
import { windowTargets } from './targets.js';
import type { Delta } from './stats.js';

const OUTPUT = new URL('../../../BENCHMARKS.md', import.meta.url);
const ROOT = new URL('../../../', import.meta.url);
export const REDIS_BEGIN = '<!-- redis:begin -->';
export const REDIS_END = '<!-- redis:end -->';

/** What the README's "What each decision costs" table promises per path. */
const README_ROUND_TRIPS: Record<string, string> = {
  closed: '2',
  open: '0',
  owner: '2',
  hit: '1',
  cap: '2',
  floor: '',
  'window-count': '0',
  'window-time': '0',
  'memory-count': '',
  'memory-time': '',
};

const perCall = (calls: number) => (calls / SEQUENTIAL_CALLS).toFixed(2);
/** Share of one core. */
const percent = (share: number) => (Number.isFinite(share) ? `${Math.round(share * 100)} %` : '');

export function renderRedis(report: RedisReport): string {
  const ceiling = report.ceilings[0];
  const limit =
    ceiling !== undefined && ceiling.samples.length > 0
      ? median(ceiling.samples.map((s) => s.requestsPerSecond))
      : undefined;
  return [
    `### Round trips per guarded call (${SEQUENTIAL_CALLS.toLocaleString('en-US')} calls one after another, one process)`,
    '',
    roundTripTable(report),
    '',
    `### Throughput: ${CALLERS} callers per process, medians of ${ROUNDS} windows of ${WINDOW_MS / 1000} s`,
    '',
    'x ceiling: over the median rate of the first ceiling row (EVALSHA `return 1`, `-c 50`).',
    'CPU per call: user + system time of the bench processes and of redis-server, over the calls.',
    '',
    throughputTable(report, limit),
    '',
    ...windowTargets(report),
    '### Ceiling: `redis-benchmark -q` on the same server, same run',
    '',
    report.benchmarkMissing
      ? 'redis-benchmark is not on PATH (or BENCH_REDIS_PATHS is set): no ceiling measured.'
      : ceilingTable(report),
    '',
    '### Machine and versions (Redis part)',
    '',
    ...environment(report),
  ].join('\n');
}

function roundTripTable(report: RedisReport): string {
  return markdownTable(
    [
      'path',
      'round trips',
      'README',
      'sent per call',
      'run inside the scripts, per call',
      'µs per call',
    ],
    ['left', 'right', 'right', 'left', 'left', 'right'],
    report.roundTrips.map(({ spec, delta, sequential }) => [
      spec.label,
      perCall(delta.sent),
      README_ROUND_TRIPS[spec.id],
      describe(delta, true) || 'nothing',
      describe(delta, false) || 'nothing',
      (sequential.nsPerCall / 1000).toFixed(1),
    ]),
  );
}

function describe(delta: Delta, sent: boolean): string {
  return delta.byCommand
    .filter((entry) => entry.sent === sent)
    .map((entry) => `${entry.command} ${perCall(entry.calls)}`)
    .join(', ');
}

function throughputTable(report: RedisReport, limit: number | undefined): string {
  const x = (value: number) => (limit === undefined ? '' : `${(value / limit).toFixed(2)}x`);
  const pair = (one: string, all: string) => `${one} / ${all}`;
  const n = PROCESSES;
  return markdownTable(
    [
      'path',
      'round trips per call',
      '1 process (calls/s)',
      `${n} processes (calls/s)`,
      `calls/s x ceiling, 1 / ${n} proc.`,
      `round trips/s x ceiling, 1 / ${n} proc.`,
      `CPU per call (µs), client + redis-server, 1 / ${n} proc.`,
      `redis-server CPU, 1 / ${n} proc.`,
      'note',
    ],
    ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
    report.throughput.map(({ spec, one, all }) => [
      spec.label,
      all.roundTrips.toFixed(2),
      `${rate(one.median)} (${rate(one.min)}-${rate(one.max)})`,
      `${rate(all.median)} (${rate(all.min)}-${rate(all.max)})`,
      pair(x(one.median), x(all.median)),
      pair(x(one.median * one.roundTrips), x(all.median * all.roundTrips)),
      pair(cpuPerCall(one), cpuPerCall(all)),
      pair(percent(one.redisCpu), percent(all.redisCpu)),
      incidentNote(one.incidents + all.incidents),
    ]),
  );
}

function cpuPerCall(summary: LoadSummary): string {
  return `${summary.clientMicros.toFixed(1)} + ${summary.redisMicros.toFixed(1)}`;
}

function incidentNote(incidents: number): string {
  return incidents === 0
    ? ''
    : `${incidents} Redis errors or degraded-mode switches: calls fell back to in-process state, numbers void`;
}

function ceilingTable(report: RedisReport): string {
  return markdownTable(
    [
      'command',
      'options',
      'requests/s (min-max)',
      'p50 (ms)',
      'redis-server CPU',
      'µs per request',
    ],
    ['left', 'left', 'right', 'right', 'right', 'right'],
    report.ceilings.map(({ spec, samples }) => {
      const rps = samples.map((s) => s.requestsPerSecond);
      return [
        spec.label,
        `\`${loadOptions(spec)}\``,
        `${rate(median(rps))} (${rate(Math.min(...rps))}-${rate(Math.max(...rps))})`,
        median(samples.map((s) => s.p50Ms)).toFixed(3),
        percent(median(samples.map((s) => s.redisCpu ?? NaN))),
        median(samples.map((s) => s.redisMicros ?? NaN)).toFixed(1),
      ];
    }),
  );
}

function versionOf(name: string): string {
  const file = new URL(`node_modules/${name}/package.json`, ROOT);
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

function environment(report: RedisReport): string[] {
  const cpus = os.cpus();
  const load = os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(', ');
  return [
    `- ${cpus.length} cores (${cpus[0]?.model ?? 'unknown CPU'}) shared by redis-server, the bench processes and redis-benchmark; load average ${load} at the end.`,
    `- redis-server ${report.redisVersion} on 127.0.0.1 (no persistence), ioredis ${versionOf('ioredis')}, Node ${process.version}; every process has one client (commandTimeout 250, enableOfflineQueue false, maxRetriesPerRequest 1) and one subscriber connection.`,
    `- Run on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; the Redis part took ${Math.round(report.seconds)} s.`,
  ];
}

/**
 * Replaces only the Redis block of BENCHMARKS.md (appended under "## Redis" the first time):
 * the in-memory block and every hand-written section around it stay as they are.
 */
export function writeRedisReport(text: string): string {
  const block = `${REDIS_BEGIN}\n\n${text}\n\n${REDIS_END}`;
  const current = existsSync(OUTPUT) ? readFileSync(OUTPUT, 'utf8') : '# Benchmarks\n';
  const begin = current.indexOf(REDIS_BEGIN);
  const end = current.indexOf(REDIS_END);
  const next =
    begin !== -1 && end > begin
      ? current.slice(0, begin) + block + current.slice(end + REDIS_END.length)
      : `${current.trimEnd()}\n\n## Redis\n\n${block}\n`;
  writeFileSync(OUTPUT, next);
  return OUTPUT.pathname;
}
