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
  /** The most the queued writes may hold, in bytes (`maxQueuedWriteBytes`). */
  readonly maxBytes: number;
  /** Tells the operator that writes were dropped (once per overflow, see `dropOldest`). */
  warn(message: string): void;
}

/** Bound of the queue in writes; the oldest write is dropped first (its lease lapses by itself). */
const MAX_WRITES = 10_000;
/** While degraded, how often pending writes try to reach Redis (as its recovery probe). */
const RETRY_MS = 250;
/** What a queued write costs beyond its keys and arguments (the entry, its arrays), in bytes. */
const ENTRY_OVERHEAD_BYTES = 96;
/** A number argument, as a double. */
const NUMBER_BYTES = 8;

interface Pending {
  write: Undo;
  until: number;
  bytes: number;
}

/** The bytes a write holds while queued: its keys and arguments (a dedupe result can be large). */
export function queuedBytes(write: Undo): number {
  let bytes = ENTRY_OVERHEAD_BYTES;
  for (const part of [...write.keys, ...write.args])
    bytes += typeof part === 'number' ? NUMBER_BYTES : Buffer.byteLength(part);
  return bytes;
}

/**
 * Writes that end a lease or undo a lost decision, queued until Redis answers: replayed at once
 * when a call succeeds again, then at most every `RETRY_MS`, each until its lease would have
 * lapsed; the oldest doubles as the recovery probe while degraded. Bounded in writes and in
 * bytes: past either bound the oldest write is dropped, which is always safe (the slot or claim
 * it ends stays taken until its lease lapses, as if the process had crashed), and counted.
 */
export class WriteQueue {
  private readonly pending: Pending[] = [];
  private bytes = 0;
  /** Live writes dropped to stay within the bounds, since the queue was created. */
  dropped = 0;
  /** Whether this overflow was reported: once until the queue has been empty again. */
  private overflowReported = false;
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
    const bytes = queuedBytes(write);
    if (bytes > this.deps.maxBytes) return this.overflowed(1, bytes);
    if (this.pending.length >= MAX_WRITES || this.bytes + bytes > this.deps.maxBytes)
      this.makeRoom(bytes);
    this.pending.push({ write, until, bytes });
    this.bytes += bytes;
    this.retryLater();
  }

  /** Bytes the queued writes hold. */
  get queuedBytes(): number {
    return this.bytes;
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
    const live = this.takeAll().filter((entry) => entry.until > now);
    return Promise.all(live.map(({ write }) => this.deps.run(write).catch(noop)));
  }

  /** Drops every write and timer; nothing is queued afterwards. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.lateTimers.forEach(clearTimeout);
    this.lateTimers.clear();
    this.takeAll();
  }

  /** Runs the pending writes; one that fails again is queued again (see `replay`). */
  private flush(): void {
    if (this.pending.length === 0 || this.deps.degraded()) return;
    const now = performance.now();
    this.lastFlushAt = now;
    for (const { write, until } of this.takeAll()) {
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
      const oldest = this.deps.open() ? this.takeOldest() : undefined;
      this.noteIfEmpty();
      if (oldest !== undefined) this.replay(oldest.write, oldest.until);
      if (this.pending.length > 0) this.retryLater();
    }, RETRY_MS);
    this.timer.unref?.();
  }

  private dropExpired(): void {
    const now = performance.now();
    const live = this.pending.filter((entry) => entry.until > now);
    this.pending.splice(0, this.pending.length, ...live);
    this.bytes = live.reduce((sum, entry) => sum + entry.bytes, 0);
  }

  /**
   * Frees room for a write of `bytes`: expired writes go first (they would be skipped anyway),
   * then the oldest live ones, whose leases are the nearest to lapsing by themselves.
   */
  private makeRoom(bytes: number): void {
    this.dropExpired();
    let dropped = 0;
    while (this.pending.length >= MAX_WRITES || this.bytes + bytes > this.deps.maxBytes) {
      this.takeOldest();
      dropped++;
    }
    if (dropped > 0) this.overflowed(dropped, bytes);
  }

  private overflowed(count: number, bytes: number): void {
    this.dropped += count;
    if (this.overflowReported) return;
    this.overflowReported = true;
    this.deps.warn(
      `Redis stores: the queue of writes to replay once Redis answers is full (${this.pending.length} writes, ` +
        `${this.bytes} bytes, a new one of ${bytes}; bounds ${MAX_WRITES} writes, maxQueuedWriteBytes ` +
        `${this.deps.maxBytes}): dropping the oldest (${this.dropped} so far). The slots and claims they ` +
        `end stay taken until their lease lapses.`,
    );
  }

  private takeOldest(): Pending | undefined {
    const oldest = this.pending.shift();
    if (oldest !== undefined) this.bytes -= oldest.bytes;
    return oldest;
  }

  private takeAll(): Pending[] {
    this.bytes = 0;
    const all = this.pending.splice(0);
    this.noteIfEmpty();
    return all;
  }

  /** An empty queue ends an overflow: the next one is reported again. */
  private noteIfEmpty(): void {
    if (this.pending.length === 0) this.overflowReported = false;
  }
}
