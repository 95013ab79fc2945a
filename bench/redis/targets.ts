import { markdownTable } from '../table.js';
import { SEQUENTIAL_CALLS } from './config.js';
import { rate, type RedisReport } from './results.js';
import { SYNC_INTERVAL_MS, WINDOW_PAIRS } from './windows.js';

/** One process may call a window breaker on Redis at most 1.5x slower than in memory. */
const MEMORY_FACTOR = 1.5;

/**
 * Issue 17's targets for a window breaker on Redis, judged on this run: no round trip on the
 * closed path (the only scripts are the syncs, bounded by time: one per sync interval while
 * calls come), and one process's calls/s within 1.5x of the same breaker in memory.
 */
export function windowTargets(report: RedisReport): string[] {
  const rows: string[][] = [];
  for (const [redis, memory] of WINDOW_PAIRS) {
    const counted = report.roundTrips.find((r) => r.spec.id === redis);
    if (counted !== undefined) {
      const { sent } = counted.delta;
      const ms = (counted.sequential.nsPerCall * SEQUENTIAL_CALLS) / 1e6;
      const syncs = 1 + Math.floor(ms / SYNC_INTERVAL_MS);
      rows.push([
        'closed path: 0 round trips per call',
        counted.spec.label,
        `${sent} in ${SEQUENTIAL_CALLS.toLocaleString('en-US')} calls (${(sent / SEQUENTIAL_CALLS).toFixed(4)} per call)`,
        `syncs only: <= ${syncs} in ${Math.ceil(ms)} ms`,
        verdict(sent <= syncs),
      ]);
    }
    const remote = report.throughput.find((t) => t.spec.id === redis);
    const local = report.throughput.find((t) => t.spec.id === memory);
    if (remote === undefined || local === undefined) continue;
    const slower = local.one.median / remote.one.median;
    rows.push([
      'calls/s from 1 process within 1.5x of in memory',
      remote.spec.label,
      `${rate(remote.one.median)} vs ${rate(local.one.median)} (x${slower.toFixed(2)} slower)`,
      `>= ${rate(local.one.median / MEMORY_FACTOR)}`,
      verdict(slower <= MEMORY_FACTOR),
    ]);
  }
  if (rows.length === 0) return [];
  return [
    '### Targets (issue 17): window breakers on Redis',
    '',
    markdownTable(
      ['target', 'row', 'measured', 'limit', 'met'],
      ['left', 'left', 'right', 'right', 'left'],
      rows,
    ),
    '',
  ];
}

const verdict = (met: boolean) => (met ? 'met' : 'NOT met');
