import { randomBytes } from 'node:crypto';
import { bounded, noop } from './bounded.js';
import type { RedisBackend } from './redis-backend.js';

/*
 * Owner crash detection for Redis dedupe claims. A process that claims keeps one alive key,
 * `<prefix>{dd-owner:<processId>}:alive`, with a TTL of three heartbeats, renewed every heartbeat
 * and at once on every (re)connection. Its claim tokens name it: `<processId>.<heartbeatMs>:<n>`.
 * A waiter that finds the claim still held but the owner's alive key gone, on two looks 1.5 (owner)
 * heartbeats apart, ends the claim so that one waiter takes over.
 *
 * The alive key has its own hash tag (one slot per process, not one hot slot for the fleet), so
 * on Cluster it cannot be read by the script that reads the claim: it is read by its own round
 * trip. Nothing needs the two reads to be atomic: a claim is only ever ended by its token
 * (compare-and-delete), and an owner seen missing twice 1.5 heartbeats apart was either dead or
 * unable to write to Redis for that long.
 */

/** An alive key outlives its last renewal by this many heartbeats: two may be late or lost. */
export const ALIVE_TTL_HEARTBEATS = 3;

/** The process a claim token names, with its heartbeat interval. */
export interface ClaimOwner {
  readonly processId: string;
  readonly heartbeatMs: number;
}

/** `<processId>.<heartbeatMs>:<n>`; tokens of an older version (`<processId>:<n>`) do not match. */
const HEARTBEAT_TOKEN = /^([0-9a-f]+)\.(\d+):\d+$/;

/**
 * The owner a claim token names, or undefined when its owner does not heartbeat (a process of an
 * older version during a rolling deploy): its claim is then bounded by its lease alone.
 */
export function ownerOf(token: string): ClaimOwner | undefined {
  const match = HEARTBEAT_TOKEN.exec(token);
  if (match === null) return undefined;
  const heartbeatMs = Number(match[2]);
  return heartbeatMs >= 1 ? { processId: match[1], heartbeatMs } : undefined;
}

export function aliveKey(backend: RedisBackend, processId: string): string {
  return backend.key('dd-owner', processId, 'alive');
}

/**
 * One process's heartbeat (one per dedupe store, hence one per process with `redisStores()`):
 * one timer, one key, whatever the number of claims. Started by the first claim, stopped when
 * the backend closes. Written with the client directly, not through the backend's gate: a
 * heartbeat neither counts towards degraded mode nor waits for its cooldown, so a live owner's
 * key is back as soon as Redis answers again.
 */
export class ProcessHeartbeat {
  readonly processId = randomBytes(6).toString('hex');
  private readonly key: string;
  private timer?: ReturnType<typeof setInterval>;
  private beating = false;
  private tokens = 0;
  /** When this process's connection last came up again (performance.now()), if it did. */
  private reconnectedAt?: number;
  /** A restart can lose the alive key while claims survive (persistence): re-assert at once. */
  private readonly onReady = (): void => {
    this.reconnectedAt = performance.now();
    this.beat();
  };

  constructor(
    private readonly backend: RedisBackend,
    readonly heartbeatMs: number,
  ) {
    this.key = aliveKey(backend, this.processId);
    backend.onClose(() => this.stop());
  }

  /** A new claim token naming this process; the heartbeat starts before the first claim. */
  nextToken(): string {
    this.start();
    return `${this.processId}.${this.heartbeatMs}:${++this.tokens}`;
  }

  /**
   * Whether this process's connection came up again less than `RECONNECT_GRACE_MS` ago: a
   * Redis restart disconnects every process, and the owners reconnect on their own schedule.
   */
  justReconnected(): boolean {
    const at = this.reconnectedAt;
    return at !== undefined && performance.now() - at < RECONNECT_GRACE_MS;
  }

  private start(): void {
    if (this.timer !== undefined || this.backend.closed) return;
    this.timer = setInterval(() => this.beat(), this.heartbeatMs);
    this.timer.unref?.();
    this.backend.client.on('ready', this.onReady);
    this.beat();
  }

  private stop(): void {
    clearInterval(this.timer);
    this.backend.client.off('ready', this.onReady);
  }

  private beat(): void {
    // One write at a time: a hung Redis must not pile them up.
    if (this.beating || this.backend.closed) return;
    this.beating = true;
    const ttlMs = this.heartbeatMs * ALIVE_TTL_HEARTBEATS;
    const sent = this.backend.client.set(this.key, '1', 'PX', ttlMs);
    // A failure is retried by the next beat; the waiters' rule tolerates two missed ones.
    void bounded(sent, this.backend.options.operationTimeoutMs, 'a heartbeat')
      .catch(noop)
      .finally(() => (this.beating = false));
  }
}

/**
 * How long after its own connection came up again a waiter does not count an owner's missing
 * alive key: after a restart every process reconnects, each on its own schedule (ioredis's
 * default retry strategy waits up to 2 s between attempts), and an owner reconnecting later than
 * its waiters has not written its key yet.
 */
export const RECONNECT_GRACE_MS = 2000;

/** What a waiter concludes about a claim's owner from its alive key. */
export type OwnerVerdict = 'alive' | 'suspect' | 'lost';

/**
 * How long after the first look that found an owner's alive key missing the confirming look is
 * sent, in the owner's heartbeats: a live owner writes its key every heartbeat (and at once on
 * reconnecting), so the margin covers its timer being late on a busy event loop and the write's
 * round trip.
 */
export const CONFIRM_AFTER_HEARTBEATS = 1.5;

/**
 * A waiter's judgement of one claim's owner. The owner is lost only when its alive key was
 * missing on two looks, the second sent at least 1.5 owner heartbeats after the first was
 * answered, and neither within 2 s of the waiter's own reconnection: an owner whose key vanished
 * while it lives (a Redis restart that kept the claims but not the short-lived alive keys, an
 * eviction) has written it again by then. The key is looked at
 * about once per heartbeat however often the claim is polled: its TTL is three heartbeats, so
 * looking more often tells nothing sooner.
 */
export class OwnerLiveness {
  private missingSince?: number;
  private lastLookAt?: number;

  constructor(
    readonly heartbeatMs: number,
    private readonly isAlive: () => Promise<boolean>,
    /** True while the waiter's own connection has just come back (see RECONNECT_GRACE_MS). */
    private readonly justReconnected: () => boolean = () => false,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Looks at the owner's alive key when a look is due; otherwise repeats the last verdict. */
  async judge(): Promise<OwnerVerdict> {
    const sentAt = this.now();
    if (!this.lookDue(sentAt)) return this.missingSince === undefined ? 'alive' : 'suspect';
    this.lastLookAt = sentAt;
    const alive = await this.isAlive();
    // Just after a reconnection a missing key says nothing: the owner may not be back yet.
    if (alive || this.justReconnected()) {
      this.missingSince = undefined;
      return 'alive';
    }
    if (this.missingSince === undefined) {
      this.missingSince = this.now();
      return 'suspect';
    }
    return 'lost';
  }

  /** When to poll again: within a heartbeat; for a suspect, when its confirming look is due. */
  nextLookInMs(backoffMs: number): number {
    if (this.missingSince === undefined) return Math.min(backoffMs, this.heartbeatMs);
    // +1: a timer may fire a fraction of a millisecond early, which would waste a poll.
    return Math.max(1, this.confirmAt(this.missingSince) - this.now() + 1);
  }

  private lookDue(now: number): boolean {
    if (this.missingSince !== undefined) return now >= this.confirmAt(this.missingSince);
    // Half a heartbeat: a jittered poll can come a little early, and must not skip a beat.
    return this.lastLookAt === undefined || now - this.lastLookAt >= this.heartbeatMs / 2;
  }

  private confirmAt(missingSince: number): number {
    return missingSince + this.heartbeatMs * CONFIRM_AFTER_HEARTBEATS;
  }
}
