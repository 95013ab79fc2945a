import { CapCheck, type Bound } from './cap-check.js';
import type { FaultLog } from './fault-log.js';
import {
  fromEpoch,
  type SoakSettings,
  type WorkerMessage,
  type WorkerReport,
} from './soak-protocol.js';

export interface Violation {
  at: number;
  invariant: string;
  detail: string;
}

interface Execution {
  worker: number;
  start: number;
  end?: number;
}

interface OpenCall {
  worker: number;
  call: 'bp' | 'dd';
  start: number;
  flagged?: boolean;
}

/** A repeat execution still unexplained, waiting for what its previous owner may report. */
interface Repeat {
  key: string;
  worker: number;
  at: number;
  nth: number;
  previous: Execution;
}

/** What stays in the parent once a key's window is long over. */
const FORGET_KEYS_AFTER_MS = 60_000;
/**
 * How long an unexplained repeat waits for a stall report of the previous owner (sent as soon
 * as it runs again, before anything else) or a late failure report, before it is decided.
 */
const DECIDE_REPEATS_AFTER_MS = 20_000;

/**
 * The parent's view of the fleet, checked as each report arrives: calls in flight against the
 * cap (or the degraded bound while a fault lasts), executions per dedupe key, calls that never
 * settle. Workers are numbered; a replacement gets a new number.
 */
export class Invariants {
  readonly violations: Violation[] = [];
  /** Calls in flight against the cap; an excess is decided once its slots are done. */
  readonly cap: CapCheck;
  readonly outcomes = new Map<string, number>();
  readonly storeEvents = new Map<string, number>();
  readonly executionsPerKey = new Map<number, number>();
  /** The same, for keys whose executions no fault touched: each must be 1. */
  readonly executionsPerSteadyKey = new Map<number, number>();
  /** Event-loop stalls of a worker of at least leaseMs / 3, in ms. */
  readonly stalls: number[] = [];
  excusedDuplicates = 0;
  /** Repeats explained by the previous owner's stall (its claim lapsed while it stood still). */
  claimsLostToStalls = 0;
  private pendingRepeats: Repeat[] = [];
  calls = 0;
  private readonly executions = new Map<string, Execution[]>();
  private readonly lastSeen = new Map<string, number>();
  private readonly openCalls = new Map<string, OpenCall>();
  private readonly dead = new Set<number>();

  constructor(
    private readonly settings: SoakSettings,
    private readonly faults: FaultLog,
    private readonly healMs: number,
  ) {
    const violate = (at: number, invariant: string, detail: string) =>
      this.violations.push({ at, invariant, detail });
    this.cap = new CapCheck(settings.leaseMs, (at) => this.boundAt(at), violate);
  }

  /** `capacity`, or during a fault the bound docs/redis.md gives for it. */
  capAt(now: number): number {
    const { capacity, workers } = this.settings;
    const active = this.faults.activeAt(now);
    if (active.length === 0) return capacity;
    const localShares = workers * Math.max(1, Math.floor(capacity / workers));
    const stateLost = active.some((w) => w.type === 'redis-restart') ? capacity : 0;
    return capacity + stateLost + localShares;
  }

  /** The longest a call may take before it counts as never settling. */
  callBoundMs(call: 'bp' | 'dd'): number {
    const { leaseMs, operationTimeoutMs, maxWaitMs, holdMs, workMs } = this.settings;
    const body = call === 'bp' ? maxWaitMs + holdMs[1] : workMs[1];
    return leaseMs + operationTimeoutMs + body + this.healMs + 2000;
  }

  onReport(worker: number, report: WorkerReport): void {
    if (this.dead.has(worker)) return;
    const now = performance.now();
    if (report.type === 'enter')
      this.cap.enter(worker, report.slot, fromEpoch(report.at), fromEpoch(report.askedAt));
    else if (report.type === 'exit') this.cap.exit(worker, report.slot);
    else if (report.type === 'exec-start') this.executionStarts(report.key, worker, now);
    else this.executionEnds(report.key, worker, now);
  }

  onMessage(worker: number, message: WorkerMessage): void {
    if (this.dead.has(worker)) return;
    if (message.kind === 'call-start') {
      this.calls++;
      this.openCalls.set(message.id, { worker, call: message.call, start: performance.now() });
    } else if (message.kind === 'call-end') {
      this.openCalls.delete(message.id);
      this.count(this.outcomes, message.outcome);
    } else if (message.kind === 'stall') {
      this.stalls.push(message.ms);
      const [from, to] = [fromEpoch(message.from), fromEpoch(message.to)];
      this.cap.stalled(worker, from, to);
      if (to - from > this.cap.leaseLosingStallMs) this.faults.workerStalled(worker, from, to);
    } else if (message.kind === 'store-event') {
      this.count(this.storeEvents, message.event);
      // On the worker's clock, as its reports of slots entered (see `CapCheck.enter`).
      const at = fromEpoch(message.at);
      if (message.event === 'redis.degraded') this.faults.degraded(worker, true, at);
      if (message.event === 'redis.recovered') this.faults.degraded(worker, false, at);
      if (message.event === 'redis.error') this.faults.redisError(this.settings.operationTimeoutMs);
    }
  }

  /** A SIGKILLed worker: its calls stopped running; its executions lost their owner. */
  workerKilled(worker: number): void {
    this.dead.add(worker);
    this.cap.workerKilled(worker);
    for (const [id, call] of this.openCalls) if (call.worker === worker) this.openCalls.delete(id);
    this.faults.forgetWorker(worker);
  }

  /** Flags every call older than its bound, once; call it periodically and at the end. */
  checkUnsettled(now = performance.now()): void {
    for (const [id, call] of this.openCalls) {
      const age = now - call.start;
      if (call.flagged || age <= this.callBoundMs(call.call)) continue;
      call.flagged = true;
      this.violate(
        'call settles within its bound',
        `${call.call} call ${id} (worker ${call.worker}) open for ${Math.round(age)} ms > ${this.callBoundMs(call.call)} ms`,
      );
    }
  }

  get openCallCount(): number {
    return this.openCalls.size;
  }

  /** Tallies executions per key for keys whose window is over; frees their history. */
  settleKeys(now: number, all = false): void {
    for (const [key, seen] of this.lastSeen) {
      if (!all && now - seen < FORGET_KEYS_AFTER_MS) continue;
      const history = this.executions.get(key)!;
      this.count(this.executionsPerKey, history.length);
      const ownerDied = history.some((e) => this.dead.has(e.worker));
      if (!ownerDied && !this.faults.touched(history[0].start, history.at(-1)!.end ?? now))
        this.count(this.executionsPerSteadyKey, history.length);
      this.executions.delete(key);
      this.lastSeen.delete(key);
    }
  }

  private boundAt(at: number): Bound {
    const phase = this.faults.phaseAt(at);
    const context = `capacity ${this.settings.capacity}; ${this.faults.describeLast(at)}`;
    return { cap: this.capAt(at), phase, context };
  }

  /**
   * A second execution of a key is excused when a fault touched the time since the previous
   * one started (degraded mode dedupes per process; a restart loses claims and results) or
   * when the previous owner was killed; otherwise it waits (`decideRepeats`) for a stall of the
   * previous owner to explain it. Two executions of one key in one process never are excused.
   */
  private executionStarts(key: string, worker: number, now: number): void {
    const history = this.executions.get(key) ?? [];
    this.executions.set(key, history);
    this.lastSeen.set(key, now);
    const previous = history[history.length - 1];
    history.push({ worker, start: now });
    if (previous === undefined) return;
    if (history.some((e) => e !== history.at(-1) && e.worker === worker && e.end === undefined))
      this.violate(
        'one execution per key per process',
        `key ${key} runs twice in worker ${worker}`,
      );
    else if (this.dead.has(previous.worker) || this.faults.touched(previous.start, now, false))
      this.excusedDuplicates++;
    else this.pendingRepeats.push({ key, worker, at: now, nth: history.length, previous });
  }

  /**
   * Decides the repeats that have waited long enough (all of them at the end): excused by a
   * fault reported late, or by a stall of the previous owner long enough to lose its claim
   * that had begun at least that long before the repeat; else a violation.
   */
  decideRepeats(now: number, all = false): void {
    const ready = this.pendingRepeats.filter((r) => all || now - r.at >= DECIDE_REPEATS_AFTER_MS);
    if (ready.length === 0) return;
    this.pendingRepeats = this.pendingRepeats.filter((r) => !ready.includes(r));
    for (const repeat of ready) {
      const { previous, at } = repeat;
      if (this.faults.touched(previous.start, at, false)) this.excusedDuplicates++;
      else if (this.claimLostToStall(repeat)) {
        this.excusedDuplicates++;
        this.claimsLostToStalls++;
      } else this.violate('one execution per dedupe key', this.describeRepeat(repeat));
    }
  }

  private claimLostToStall({ previous, at }: Repeat): boolean {
    const least = this.cap.leaseLosingStallMs;
    return this.cap.leaseLosingStalls.some(
      (s) =>
        s.worker === previous.worker &&
        s.from + least <= at &&
        s.to >= previous.start - this.settings.leaseMs,
    );
  }

  private describeRepeat({ key, worker, at, nth, previous }: Repeat): string {
    const state = previous.end === undefined || previous.end > at ? 'still running' : 'finished';
    return `key ${key}: execution ${nth} in worker ${worker}, ${Math.round(at - previous.start)} ms after worker ${previous.worker}'s (${state}), no fault or stall of its owner in between; ${this.faults.describeLast(at)}`;
  }

  private executionEnds(key: string, worker: number, now: number): void {
    const running = this.executions
      .get(key)
      ?.find((e) => e.worker === worker && e.end === undefined);
    if (running) running.end = now;
  }

  private violate(invariant: string, detail: string): void {
    this.violations.push({ at: performance.now(), invariant, detail });
  }

  private count<K>(map: Map<K, number>, key: K): void {
    map.set(key, (map.get(key) ?? 0) + 1);
  }
}
