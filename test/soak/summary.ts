import type { FaultInjector } from './fault-injector.js';
import type { FaultLog } from './fault-log.js';
import type { HeapVerdict } from './heap-watch.js';
import type { LeaseLostToStall } from './cap-check.js';
import type { Invariants } from './invariants.js';
import type { SoakSettings } from './soak-protocol.js';

export interface SoakResult {
  settings: SoakSettings;
  seconds: number;
  invariants: Invariants;
  faults: FaultLog;
  injector: FaultInjector;
  heapVerdicts: HeapVerdict[];
  scans: { scans: number; failedScans: number };
  unhandled: string[];
  notes: string[];
  healMs: number;
}

const MAX_VIOLATIONS_SHOWN = 20;
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const list = (map: Map<unknown, number>) =>
  [...map]
    .sort(([a], [b]) => String(a).localeCompare(String(b), 'en', { numeric: true }))
    .map(([key, n]) => `${key}: ${n}`)
    .join(', ') || 'none';

function byInvariant(invariants: Invariants): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { invariant } of invariants.violations)
    counts.set(invariant, (counts.get(invariant) ?? 0) + 1);
  return counts;
}

/** Moments over the cap that leases lost to a stall explain: not violations, but shown. */
function describeLeaseLosses(losses: LeaseLostToStall[], faults: FaultLog): string {
  const head = `over the cap, lease lost to a stall: ${losses.length} calls entered`;
  if (losses.length === 0) return head;
  const worst = losses.reduce((a, b) => (b.inFlight - b.cap > a.inFlight - a.cap ? b : a));
  const stalls = new Set(losses.flatMap((l) => l.lost.map((s) => `w${s.worker} ${s.stallMs} ms`)));
  return (
    `${head} from ${faults.time(losses[0].at)} to ${faults.time(losses.at(-1)!.at)}, ` +
    `worst ${worst.inFlight} in flight > ${worst.cap} (${worst.phase}); stalls: ${[...stalls].join(', ')}`
  );
}

/** Prints what the soak saw; answers the exit code (1 on any violation). */
export function printSummary(result: SoakResult): number {
  const { settings, invariants, faults, injector } = result;
  const { capacity, workers } = settings;
  const degradedBound = capacity + workers * Math.max(1, Math.floor(capacity / workers));
  const lines = [
    '',
    `== soak summary (${result.seconds.toFixed(0)} s, ${workers} workers, capacity ${capacity}, leaseMs ${settings.leaseMs}, operationTimeoutMs ${settings.operationTimeoutMs}, degradedCooldownMs ${settings.degradedCooldownMs})`,
    `faults injected: ${list(faults.injected)}` +
      (injector.slowCommandUsed ? ` (slow command: ${injector.slowCommandUsed})` : ''),
    `calls: ${invariants.calls} (${list(invariants.outcomes)})`,
    `max in flight per phase: ${list(invariants.cap.maxInFlight)}; allowed: capacity ${capacity} when steady (${result.healMs} ms after a fault healed), ${degradedBound} during a fault, ${degradedBound + capacity} during a restart`,
    `dedupe keys by executions: ${list(invariants.executionsPerKey)}; keys no fault touched: ${list(invariants.executionsPerSteadyKey)} (repeat executions excused by a fault, a dead owner or its stall: ${invariants.excusedDuplicates}, by a stall: ${invariants.claimsLostToStalls})`,
    `store events: ${list(invariants.storeEvents)}`,
    `worker event-loop stalls >= ${Math.round(settings.leaseMs / 3)} ms: ${invariants.stalls.length}` +
      (invariants.stalls.length > 0 ? ` (longest ${Math.max(...invariants.stalls)} ms)` : '') +
      `; long enough to lose a lease (> ${invariants.cap.leaseLosingStallMs} ms): ${invariants.cap.leaseLosingStalls.length}`,
    describeLeaseLosses(invariants.cap.leaseLosses, faults),
    `TTL scans: ${result.scans.scans} (${result.scans.failedScans} skipped while Redis was down)`,
    `heap after ${20} s warm-up -> end: ${
      result.heapVerdicts
        .map(
          (v) =>
            `w${v.worker} ${mb(v.baseline)} -> ${mb(v.end)} (${v.growth >= 0 ? '+' : ''}${Math.round(v.growth * 100)} %)`,
        )
        .join(', ') || 'no worker lived long enough'
    }`,
    ...[...injector.notes, ...result.notes].map((note) => `note: ${note}`),
    ...result.unhandled.map((error) => `worker error: ${error}`),
    `violations: ${invariants.violations.length}` +
      (invariants.violations.length > 0 ? ` (${list(byInvariant(invariants))})` : ''),
    ...invariants.violations
      .slice(0, MAX_VIOLATIONS_SHOWN)
      .map((v) => `  at ${faults.time(v.at)}: ${v.invariant}: ${v.detail}`),
  ];
  console.log(lines.join('\n'));
  return invariants.violations.length > 0 || result.unhandled.length > 0 ? 1 : 0;
}
