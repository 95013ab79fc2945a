import { noop } from './bounded.js';
import type { LuaScript } from './lua/script.js';
import type { ScriptArg } from './script-runner.js';

/**
 * A script to run once Redis answers again: one that reverts a decision whose reply was lost, or
 * a write that ends a lease and could not be delivered. Idempotent (it names its token); useless
 * after `maxAgeMs`, when the lease it ends has lapsed anyway.
 *
 * @publicApi
 */
export interface Undo {
  readonly script: LuaScript;
  readonly keys: readonly string[];
  readonly args: readonly ScriptArg[];
  readonly maxAgeMs: number;
}

/** What the queue needs from the backend. */
export interface WriteQueueDeps {
  /** Runs one write through the backend (its gate, its events). */
  run(write: Undo): Promise<unknown>;
  /** Degraded mode is on. */
  degraded(): boolean;
  /** A call would be sent now (not degraded, or the recovery probe is due). */
  open(): boolean;
  /** How long after giving up on a command the client may still send it. */
  readonly lateResendMs: number;
}

/** Bound of the queue; the oldest write is dropped first (its lease lapses by itself). */
const MAX_WRITES = 10_000;
/** While degraded, how often pending writes try to reach Redis (as its recovery probe). */
const RETRY_MS = 250;

interface Pending {
  write: Undo;
  until: number;
}

/**
 * Writes that end a lease or undo a lost decision, queued until Redis answers: replayed at once
 * when a call succeeds again, then at most every `RETRY_MS`, each until its lease would have
 * lapsed; the oldest doubles as the recovery probe while degraded.
 */
export class WriteQueue {
  private readonly pending: Pending[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastFlushAt = -Infinity;
  private readonly lateTimers = new Set<ReturnType<typeof setTimeout>>();
  private stopped = false;

  constructor(private readonly deps: WriteQueueDeps) {}

  /**
   * Queues `undo`; for a decision (not a write replayed as itself) once more after the client's
   * resend window: ioredis may still send the abandoned original later (a Cluster retries it
   * after TRYAGAIN or a redirection; a reconnect resends unanswered commands), and an original
   * that lands after the first undo would hold a slot, a claim or a probe for nobody.
   */
  undoLostDecision(undo: Undo, undoAgainLater: boolean): void {
    this.add(undo);
    if (!undoAgainLater || this.stopped) return;
    const { lateResendMs } = this.deps;
    // A late original's lease starts when it lands: the second undo lives as long as that.
    const until = performance.now() + lateResendMs + undo.maxAgeMs;
    const timer = setTimeout(() => {
      this.lateTimers.delete(timer);
      this.add(undo, until);
    }, lateResendMs);
    timer.unref?.();
    this.lateTimers.add(timer);
  }

  add(write: Undo, until = performance.now() + write.maxAgeMs): void {
    if (until <= performance.now() || this.stopped) return;
    if (this.pending.length >= MAX_WRITES) this.pending.shift();
    this.pending.push({ write, until });
    this.retryLater();
  }

  /** Redis answered a call: replay at once, or within `RETRY_MS` of the last replay. */
  answered(): void {
    if (this.pending.length === 0) return;
    if (performance.now() - this.lastFlushAt >= RETRY_MS) this.flush();
    else this.retryLater();
  }

  /** A last try for every live write (each bounded by the backend), before the client goes. */
  lastTry(): Promise<unknown> {
    if (this.pending.length === 0 || !this.deps.open()) return Promise.resolve();
    const now = performance.now();
    const live = this.pending.splice(0).filter((entry) => entry.until > now);
    return Promise.all(live.map(({ write }) => this.deps.run(write).catch(noop)));
  }

  /** Drops every write and timer; nothing is queued afterwards. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.lateTimers.forEach(clearTimeout);
    this.lateTimers.clear();
    this.pending.length = 0;
  }

  /** Runs the pending writes; one that fails again is queued again (see `replay`). */
  private flush(): void {
    if (this.pending.length === 0 || this.deps.degraded()) return;
    const now = performance.now();
    this.lastFlushAt = now;
    for (const { write, until } of this.pending.splice(0)) {
      if (until > now) this.replay(write, until);
    }
  }

  /** Queued again until `until`: paced retries are bounded, and any error may be passing. */
  private replay(write: Undo, until: number): void {
    this.deps.run(write).catch(() => this.add(write, until));
  }

  /**
   * Pending writes are tried again soon even when this process makes no other call: all of them
   * while Redis is healthy; while degraded, the oldest, which becomes the gate's recovery probe
   * once the cooldown has passed.
   */
  private retryLater(): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.deps.degraded()) return this.flush();
      this.dropExpired();
      const oldest = this.deps.open() ? this.pending.shift() : undefined;
      if (oldest !== undefined) this.replay(oldest.write, oldest.until);
      if (this.pending.length > 0) this.retryLater();
    }, RETRY_MS);
    this.timer.unref?.();
  }

  private dropExpired(): void {
    const now = performance.now();
    const live = this.pending.filter((entry) => entry.until > now);
    this.pending.splice(0, this.pending.length, ...live);
  }
}
