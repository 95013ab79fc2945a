/** The faults the soak injects, and what a worker's stores report by themselves. */
export type FaultType =
  | 'redis-pause'
  | 'redis-restart'
  | 'client-kill'
  | 'slow-command'
  | 'worker-kill'
  /** SIGSTOP of a worker (opt-in, `--worker-pauses`): a starved worker, on purpose. */
  | 'worker-pause'
  | 'degraded'
  | 'redis-error'
  | 'worker-stall';

/** Reported by the workers' stores rather than injected. */
const NOT_INJECTED: readonly FaultType[] = ['degraded', 'redis-error', 'worker-stall'];
/** Faults under which the exact cap still holds. */
const NO_LOOSER_CAP: readonly FaultType[] = [
  'worker-kill',
  'redis-error',
  'worker-stall',
  'worker-pause',
];

interface FaultWindow {
  type: FaultType;
  start: number;
  /** When the fault ended; undefined while it lasts. */
  healedAt?: number;
}

/**
 * When each fault started and healed, on the parent's `performance.now()` clock, and so which
 * bound applies to a moment. A worker kill is listed (it excuses a takeover of the dead
 * owner's dedupe keys) but loosens nothing else: the cap holds through it.
 */
export class FaultLog {
  readonly windows: FaultWindow[] = [];
  readonly injected = new Map<FaultType, number>();
  private readonly degradedWorkers = new Set<number>();
  private degradedWindow?: FaultWindow;

  /**
   * @param healMs how long after a fault heals its looser bound still applies
   * @param startedAt the soak's start, for the times printed
   */
  constructor(
    private readonly healMs: number,
    readonly startedAt = performance.now(),
  ) {}

  /** @param who the workers concerned, as printed (a degraded window names its own) */
  begin(type: FaultType, now = performance.now(), who?: string): FaultWindow {
    const window: FaultWindow = { type, start: now };
    this.windows.push(window);
    if (!NOT_INJECTED.includes(type)) this.injected.set(type, (this.injected.get(type) ?? 0) + 1);
    if (type === 'degraded') who = [...this.degradedWorkers].map((w) => `w${w}`).join(', ');
    if (type !== 'redis-error') console.log(`  ${this.time(now)} ${type}${who ? ` (${who})` : ''}`);
    return window;
  }

  heal(window: FaultWindow, now = performance.now()): void {
    window.healedAt = now;
    if (window.type === 'redis-error') return;
    console.log(
      `  ${this.time(now)} ${window.type} healed after ${Math.round(now - window.start)} ms`,
    );
  }

  /** Seconds since the soak started, as printed. */
  time(at: number): string {
    return `${((at - this.startedAt) / 1000).toFixed(1)} s`;
  }

  /** The latest fault before `now`, for a violation's detail. */
  describeLast(now: number): string {
    const last = this.windows.filter((w) => w.start <= now).at(-1);
    if (last === undefined) return 'no fault yet';
    const healed =
      last.healedAt === undefined
        ? 'not healed'
        : `healed ${Math.round(now - last.healedAt)} ms ago`;
    return `last fault ${last.type} ${healed}`;
  }

  /** A worker's store switched to degraded mode or recovered; one window spans them all. */
  degraded(worker: number, isDegraded: boolean, at = performance.now()): void {
    if (isDegraded) this.degradedWorkers.add(worker);
    else this.degradedWorkers.delete(worker);
    if (this.degradedWorkers.size > 0) this.degradedWindow ??= this.begin('degraded', at);
    else if (this.degradedWindow !== undefined) {
      this.heal(this.degradedWindow, at);
      this.degradedWindow = undefined;
    }
  }

  /**
   * A store reported a failed Redis operation (a timeout on a starved machine, say) without
   * an injected fault: the operation ran up to `operationTimeoutMs` before it failed, and its
   * fallback (a dedupe claim made in-process) is what the docs allow for a failure.
   */
  redisError(operationTimeoutMs: number, now = performance.now()): void {
    this.heal(this.begin('redis-error', now - operationTimeoutMs), now);
  }

  /**
   * A worker's event loop stood still from `from` to `to`, long enough to lose a lease: shown
   * in the timeline, and a key it touched is not counted as steady. It loosens no cap and
   * excuses no repeat by itself: only the slots and claims of the stalled worker may have been
   * lost (CapCheck, `Invariants.decideRepeats`).
   */
  workerStalled(worker: number, from: number, to: number): void {
    this.heal(this.begin('worker-stall', from, `w${worker}`), to);
  }

  /** A killed worker never reports its recovery. */
  forgetWorker(worker: number): void {
    if (this.degradedWorkers.has(worker)) this.degraded(worker, false);
  }

  /**
   * The faults whose looser cap applies at `now`. Not a worker kill, nor a lone failed
   * operation (an acquire that fails before degraded mode is refused, never granted), nor a
   * worker's stall (it may cost the slots its worker held, no more: see CapCheck).
   */
  activeAt(now: number): FaultWindow[] {
    const loosens = (w: FaultWindow) => !NO_LOOSER_CAP.includes(w.type);
    return this.windows.filter((w) => loosens(w) && w.start <= now && !this.over(w, now));
  }

  /**
   * Whether a fault (other than a worker kill), or a failed operation, touched [from, to]; a
   * worker's stall too unless `withStalls` is false.
   */
  touched(from: number, to: number, withStalls = true): boolean {
    const counts = (w: FaultWindow) =>
      w.type !== 'worker-kill' && (withStalls || w.type !== 'worker-stall');
    return this.windows.some((w) => counts(w) && w.start <= to && !this.over(w, from));
  }

  /** The phase a moment belongs to, for the summary: 'steady' or the latest fault's type. */
  phaseAt(now: number): string {
    const active = this.activeAt(now);
    const injected = active.filter((w) => !NOT_INJECTED.includes(w.type));
    if (injected.length > 0) return injected[injected.length - 1].type;
    return active.length > 0 ? 'degraded (not injected)' : 'steady';
  }

  /** Drops windows long over, so the log stays small in a long run. */
  prune(now: number, keepMs: number): void {
    const old = (w: FaultWindow) => w.healedAt !== undefined && w.healedAt + keepMs < now;
    for (let i = this.windows.length - 1; i >= 0; i--)
      if (old(this.windows[i])) this.windows.splice(i, 1);
  }

  private over(window: FaultWindow, now: number): boolean {
    return window.healedAt !== undefined && window.healedAt + this.healMs < now;
  }
}
