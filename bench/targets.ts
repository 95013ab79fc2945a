import type { RowResult } from './harness.js';
import { median } from './harness.js';
import type { ScalingResult } from './scaling.js';
import { ns } from './table.js';
import { CONSECUTIVE_ROW, WINDOW_ROWS } from './windows.js';

/** One target of issue 16 (or a correctness check kept from issues 7 and 12), on one run. */
export interface TargetCheck {
  readonly target: string;
  readonly row: string;
  readonly measured: string;
  readonly limit: string;
  readonly met: boolean;
}

/** Overhead is a row's median minus the raw call's: what the library adds to `async () => 42`. */
const OVERHEAD_SHARE = 0.6;
const CAP_FLOOR_FACTOR = 1.5;
const STACK_FLOOR_FACTOR = 2;
const TWIN_NS = 30;
const RATE_LIMIT_NS = 150;
const WINDOW_NS = 40;

/** The paths through a decorated method, next to the chain of layers they compile to. */
const TWINS: ReadonlyArray<[scenario: string, chain: string, paths: string[]]> = [
  [
    'closed',
    'ours: Chain of layers',
    ['@CircuitBreaker on a Nest provider', '@CircuitBreaker, standalone'],
  ],
  ['open', 'ours: Chain of layers', ['@CircuitBreaker on a Nest provider']],
  ['retry', 'ours: Chain of layers', ['@Retry on a Nest provider', '@Retry, standalone']],
  [
    'cap',
    'ours: Chain of layers',
    ['@Backpressure on a Nest provider', '@Backpressure, standalone'],
  ],
  [
    'stack',
    'ours: Chain of 3 layers',
    ['3 decorators on a Nest provider', '3 decorators, standalone'],
  ],
  [
    'stack',
    'ours: Chain of 4 layers (+ dedupe)',
    ['4 decorators on a Nest provider', '4 decorators, standalone'],
  ],
  ['dedupe', 'ours: Chain, key function', ['@Dedupe on a Nest provider']],
  [
    'rate-limit',
    'ours: Chain of layers',
    ['@RateLimit on a Nest provider', '@RateLimit, standalone'],
  ],
  ['timeout', 'ours: Chain of layers', ['@Timeout on a Nest provider', '@Timeout, standalone']],
  ['fallback', 'ours: Chain of layers', ['@Fallback on a Nest provider', '@Fallback, standalone']],
];

class Checks {
  readonly list: TargetCheck[] = [];
  constructor(private readonly results: readonly RowResult[]) {}

  scenario(id: string): RowResult[] {
    return this.results.filter((r) => r.row.scenario === id);
  }
  ours(id: string): RowResult[] {
    return this.scenario(id).filter((r) => r.row.kind === 'ours');
  }
  find(id: string, label: string): RowResult | undefined {
    return this.scenario(id).find((r) => r.row.label.startsWith(label));
  }
  add(target: string, row: string, measured: string, limit: string, met: boolean): void {
    this.list.push({ target, row, measured, limit, met });
  }
}

export function checkTargets(
  results: readonly RowResult[],
  scaling: readonly ScalingResult[],
): TargetCheck[] {
  const checks = new Checks(results);
  checkOverheads(checks);
  checkCap(checks, scaling);
  checkStack(checks);
  for (const [scenario, chainLabel, paths] of TWINS) {
    for (const path of paths) checkTwin(checks, scenario, chainLabel, `ours: ${path}`);
  }
  for (const label of WINDOW_ROWS) checkWindow(checks, label);
  checkRateLimit(checks);
  checkTimeout(checks);
  checkDedupe(checks);
  return checks.list;
}

/**
 * Every row of ours adds at most 0.6x what cockatiel 4 adds in the same scenario. Scenarios
 * without a cockatiel row (dedupe, rate limit) have other yardsticks below.
 */
function checkOverheads(checks: Checks): void {
  const raw = checks.find('raw', 'raw')?.median ?? 0;
  for (const id of ['closed', 'open', 'retry', 'cap', 'stack', 'timeout', 'fallback']) {
    const cockatiel = checks.scenario(id).find((r) => r.row.label.startsWith('cockatiel'));
    if (cockatiel === undefined) continue;
    const limit = OVERHEAD_SHARE * (cockatiel.median - raw);
    for (const r of checks.ours(id)) {
      const overhead = r.median - raw;
      checks.add(
        'overhead <= 0.6x cockatiel 4',
        `${id}: ${r.row.label}`,
        `${ns(overhead)} (x${(overhead / (cockatiel.median - raw)).toFixed(2)})`,
        `0.6 x ${ns(cockatiel.median - raw)} = ${ns(limit)}`,
        overhead <= limit,
      );
    }
  }
}

function checkCap(checks: Checks, scaling: readonly ScalingResult[]): void {
  const floor = checks.find('cap', 'hand-written semaphore');
  if (floor !== undefined) {
    const limit = CAP_FLOOR_FACTOR * floor.median;
    for (const r of checks.ours('cap')) {
      checks.add(
        'cap <= 1.5x hand-written semaphore',
        r.row.label,
        `${ns(r.median)} (x${(r.median / floor.median).toFixed(2)})`,
        `1.5 x ${ns(floor.median)} = ${ns(limit)}`,
        r.median <= limit,
      );
    }
  }
  checkQueueGrowth(checks, scaling);
}

/**
 * O(1) queue operations: from 1,000 to 100,000 queued calls, ours grows no more than 1.5x as
 * much as the hand-written semaphore. Every implementation slows at 100,000 (that many live
 * promises keep the collector busy), so the floor is the yardstick.
 */
function checkQueueGrowth(checks: Checks, scaling: readonly ScalingResult[]): void {
  const ours = scaling.find((s) => s.label.startsWith('ours'));
  const floor = scaling.find((s) => s.label.startsWith('hand-written'));
  if (ours === undefined || floor === undefined) return;
  const first = ours.nsPerCall[0] / floor.nsPerCall[0];
  const last = ours.nsPerCall.at(-1)! / floor.nsPerCall.at(-1)!;
  checks.add(
    'cap O(1) up to 100,000 queued',
    `${ours.label}, 1,000 vs 100,000 at once`,
    `x${first.toFixed(2)} vs x${last.toFixed(2)} of the floor`,
    'ratio grows <= 1.5x',
    last <= first * 1.5,
  );
}

/** The composed stack within 2x of the same composition written by hand. */
function checkStack(checks: Checks): void {
  const floor3 = checks.find('stack', 'hand-written semaphore + breaker + retry');
  const floor4 = checks.find('stack', 'hand-written semaphore + single flight');
  for (const r of checks.ours('stack')) {
    const floor = r.row.label.includes('4') ? floor4 : floor3;
    if (floor === undefined) continue;
    const limit = STACK_FLOOR_FACTOR * floor.median;
    checks.add(
      'stack <= 2x hand-written composition',
      r.row.label,
      `${ns(r.median)} (x${(r.median / floor.median).toFixed(2)})`,
      `2 x ${ns(floor.median)} = ${ns(limit)}`,
      r.median <= limit,
    );
  }
}

/**
 * The gap is the median of the per-round differences: the two rows run back to back in every
 * round, so pairing them cancels the machine's slower swings, which a difference of medians keeps.
 */
function checkTwin(checks: Checks, scenario: string, chainLabel: string, label: string): void {
  const chain = checks.find(scenario, chainLabel);
  const path = checks.find(scenario, label);
  if (chain === undefined || path === undefined) return;
  const gap = pairedGap(path, chain);
  checks.add(
    'decorated method within 30 ns of the chain',
    `${scenario}: ${path.row.label}`,
    `${gap >= 0 ? '+' : ''}${ns(gap)}`,
    `${TWIN_NS} apart`,
    Math.abs(gap) <= TWIN_NS,
  );
}

function pairedGap(row: RowResult, yardstick: RowResult): number {
  return median(row.samples.map((sample, round) => sample - yardstick.samples[round]));
}

/** Issue 17: a closed breaker with a failure-rate window costs at most 40 ns more per call. */
function checkWindow(checks: Checks, label: string): void {
  const closed = checks.scenario('closed');
  const consecutive = closed.find((r) => r.row.label === CONSECUTIVE_ROW);
  const windowed = closed.find((r) => r.row.label === label);
  if (consecutive === undefined || windowed === undefined) return;
  const gap = pairedGap(windowed, consecutive);
  checks.add(
    'window breaker <= consecutive + 40 (issue 17)',
    `closed: ${label}`,
    `${gap >= 0 ? '+' : ''}${ns(gap)}`,
    `${WINDOW_NS} over`,
    gap <= WINDOW_NS,
  );
}

function checkRateLimit(checks: Checks): void {
  const floor = checks.find('rate-limit', 'hand-written token bucket');
  if (floor === undefined) return;
  for (const r of checks.ours('rate-limit')) {
    checks.add(
      'rate limit <= token bucket + 150',
      r.row.label,
      ns(r.median),
      `${ns(floor.median)} + 150 = ${ns(floor.median + RATE_LIMIT_NS)}`,
      r.median <= floor.median + RATE_LIMIT_NS,
    );
  }
}

/**
 * Issue 12: a timeout that never fires costs at most the bare `setTimeout` + `clearTimeout`
 * floor + 100 ns. The row whose method reads the signal is left out: creating an `AbortSignal`
 * alone costs more than that.
 */
function checkTimeout(checks: Checks): void {
  const ours = checks.find('timeout', 'ours: Chain of layers');
  const floor = checks.find('timeout', 'hand-written setTimeout');
  if (ours === undefined || floor === undefined) return;
  checks.add(
    'timeout <= setTimeout floor + 100 (issue 12)',
    ours.row.label,
    ns(ours.median),
    `${ns(floor.median)} + 100 = ${ns(floor.median + 100)}`,
    ours.median <= floor.median + 100,
  );
}

/** Issue 7's correctness half: 1,000 identical calls run the operation once. */
function checkDedupe(checks: Checks): void {
  for (const r of checks.ours('dedupe')) {
    checks.add(
      '1,000 identical calls, 1 execution (issue 7)',
      r.row.label,
      r.note,
      '1 execution per batch',
      r.note.startsWith('1 execution per'),
    );
  }
}
