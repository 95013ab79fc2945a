import type { RowResult } from './harness.js';
import { drift, median } from './harness.js';
import type { ScalingResult } from './scaling.js';
import { ns } from './table.js';

/** One row of issue 7's target table, checked against this run's medians. */
export interface TargetCheck {
  readonly target: string;
  readonly row: string;
  readonly measured: string;
  readonly limit: string;
  readonly met: boolean;
}

/** The Nest provider rows and the rows that call the same layers directly. */
const NEST_TWINS: ReadonlyArray<[string, string, string]> = [
  ['closed', 'ours: @CircuitBreaker on a Nest provider', 'ours: Chain of layers'],
  ['open', 'ours: @CircuitBreaker on a Nest provider', 'ours: Chain of layers'],
  ['retry', 'ours: @Retry on a Nest provider', 'ours: Chain of layers'],
  ['cap', 'ours: @Backpressure on a Nest provider', 'ours: Chain of layers'],
  ['stack', 'ours: 3 decorators on a Nest provider', 'ours: Chain of 3 layers'],
  ['stack', 'ours: 4 decorators on a Nest provider', 'ours: Chain of 4 layers (+ dedupe)'],
  ['dedupe', 'ours: @Dedupe on a Nest provider', 'ours: Chain, key function'],
];

export function checkTargets(results: readonly RowResult[], scaling: readonly ScalingResult[]) {
  const checks: TargetCheck[] = [];
  const ours = (scenario: string) =>
    results.filter((r) => r.row.scenario === scenario && r.row.kind === 'ours');
  const find = (scenario: string, label: string) =>
    results.find((r) => r.row.scenario === scenario && r.row.label === label);
  const raw = find('raw', 'raw')?.median ?? 0;
  const add = (target: string, r: RowResult, limit: number, limitText: string) =>
    checks.push({
      target,
      row: r.row.label,
      measured: ns(r.median),
      limit: limitText,
      met: r.median <= limit,
    });

  for (const r of ours('closed')) add('closed breaker', r, raw + 90, `raw + 90 = ${ns(raw + 90)}`);
  for (const r of ours('open')) add('open breaker', r, 1_500, '1,500');
  for (const r of ours('retry')) add('retry, first try', r, raw + 60, `raw + 60 = ${ns(raw + 60)}`);
  checkCap(checks, ours('cap'), scaling);
  checkStack(checks, ours('stack'), find('stack', 'cockatiel wrap(bulkhead, breaker, retry)'));
  checkDedupe(checks, ours('dedupe'), find('dedupe', 'hand-written single-flight Map'));
  checkTimeout(checks, results);
  for (const [scenario, nestLabel, chainLabel] of NEST_TWINS) {
    checkTwin(checks, find(scenario, nestLabel), find(scenario, chainLabel));
  }
  return checks;
}

function checkCap(checks: TargetCheck[], rows: RowResult[], scaling: readonly ScalingResult[]) {
  for (const r of rows) {
    const slowDown = drift(r.samples);
    checks.push({
      target: 'cap 10, 10,000 at once',
      row: r.row.label,
      measured: `${ns(r.median)}, drift x${slowDown.toFixed(2)}`,
      limit: '400, no slow-down',
      met: r.median <= 400 && slowDown <= 1.25,
    });
  }
  checkQueueGrowth(checks, scaling);
}

/**
 * O(1) queue operations: ours stays within 1.5x of the hand-written semaphore's growth from 1,000
 * to 100,000 calls at once. Raw ns per call grow for every implementation at 100,000 (that many
 * live promises make the collector work hard), so the floor is the yardstick.
 */
function checkQueueGrowth(checks: TargetCheck[], scaling: readonly ScalingResult[]) {
  const ours = scaling.find((s) => s.label.startsWith('ours'));
  const floor = scaling.find((s) => s.label.startsWith('hand-written'));
  if (ours === undefined || floor === undefined) return;
  const first = ours.nsPerCall[0] / floor.nsPerCall[0];
  const last = ours.nsPerCall.at(-1)! / floor.nsPerCall.at(-1)!;
  checks.push({
    target: 'cap 10, O(1) queue',
    row: `${ours.label}, 1,000 vs 100,000 at once`,
    measured: `x${first.toFixed(2)} vs x${last.toFixed(2)} of the floor`,
    limit: 'no more than 1.5x growth',
    met: last <= first * 1.5,
  });
}

function checkStack(checks: TargetCheck[], rows: RowResult[], cockatiel: RowResult | undefined) {
  const wrapLimit = cockatiel === undefined ? Infinity : cockatiel.median * 0.4;
  for (const r of rows) {
    const four = r.row.label.includes('4');
    const limit = four ? 750 : Math.min(600, wrapLimit);
    const limitText = four ? '750' : `600 and 40 % of cockatiel = ${ns(wrapLimit)}`;
    checks.push({
      target: four ? 'stack + dedupe (4 layers)' : 'backpressure + breaker + retry',
      row: r.row.label,
      measured: ns(r.median),
      limit: limitText,
      met: r.median <= limit,
    });
  }
}

/**
 * Issue 12: a timeout that never fires costs at most the bare `setTimeout` + `clearTimeout`
 * floor + 100 ns, and less than cockatiel's. The row whose method reads the signal is left out:
 * creating an `AbortSignal` alone costs more than that, and cockatiel makes one on every call.
 */
export function checkTimeout(checks: TargetCheck[], results: readonly RowResult[]) {
  const find = (label: string) =>
    results.find((r) => r.row.scenario === 'timeout' && r.row.label === label);
  const ours = find('ours: Chain of layers');
  const floor = find('hand-written setTimeout + clearTimeout');
  const cockatiel = find('cockatiel timeout (Cooperative)');
  if (ours === undefined || floor === undefined) return;
  checks.push({
    target: 'timeout, success',
    row: ours.row.label,
    measured: ns(ours.median),
    limit: `floor + 100 = ${ns(floor.median + 100)}, below cockatiel = ${ns(cockatiel?.median ?? NaN)}`,
    met: ours.median <= floor.median + 100 && ours.median < (cockatiel?.median ?? Infinity),
  });
}

function checkDedupe(checks: TargetCheck[], rows: RowResult[], floor: RowResult | undefined) {
  const limit = (floor?.median ?? 0) + 100;
  // The SHA-256 row shows what hashing the arguments costs; the target is about sharing.
  for (const r of rows.filter((row) => !row.row.label.includes('SHA-256'))) {
    const single = r.note.startsWith('1 execution per');
    checks.push({
      target: '1,000 identical calls',
      row: r.row.label,
      measured: `${ns(r.median)}; ${single ? '1 execution' : r.note}`,
      limit: `1 execution; Map + 100 = ${ns(limit)}`,
      met: single && r.median <= limit,
    });
  }
}

/**
 * The gap is the median of the per-round differences: the two rows run back to back in every
 * round, so pairing them cancels the machine's slower swings, which a difference of medians keeps.
 */
function checkTwin(
  checks: TargetCheck[],
  nest: RowResult | undefined,
  chain: RowResult | undefined,
) {
  if (nest === undefined || chain === undefined) return;
  const gap = median(nest.samples.map((sample, round) => sample - chain.samples[round]));
  checks.push({
    target: 'Nest provider vs same layers',
    row: `${nest.row.scenario}: ${nest.row.label}`,
    measured: `${gap >= 0 ? '+' : ''}${ns(gap)}`,
    limit: '30 apart',
    met: Math.abs(gap) <= 30,
  });
}
