import type { DedupeSettlement } from '../dedupe/dedupe.store.js';
import { OwnerLiveness } from './process-heartbeat.js';
import type { ChannelListener } from './redis-backend.js';

/** What DD_PEEK found for the awaited claim. */
export type PeekReply = ['c', string] | ['d', string] | ['p', number] | ['x'];

export interface ClaimWatchDeps {
  listen(handler: (message: string) => void): ChannelListener;
  peek(): Promise<PeekReply>;
  /** Settlement from a result envelope (`v`, `s`) or an error envelope (`e`). */
  settlementOf(envelope: string): DedupeSettlement;
  readonly pollMinMs: number;
  readonly pollMaxMs: number;
  /** Called once, when the watch ends. */
  ended(): void;
  /** Present when the claim's owner heartbeats: the watch then also looks for its crash. */
  readonly owner?: OwnerCheck;
}

/** How a watch tells a crashed owner (see process-heartbeat.ts) and ends its claim. */
export interface OwnerCheck {
  readonly heartbeatMs: number;
  /** True while the owner's alive key exists. */
  alive(): Promise<boolean>;
  /** Ends the claim if its token still holds it (compare-and-delete), telling its waiters. */
  lapse(): Promise<unknown>;
  /** True while this process's own connection has just come back. */
  justReconnected(): boolean;
}

const NOT_COMPLETED: DedupeSettlement = { completed: false };

/**
 * Waits for one claim held by another process to end: subscribe, then check (so a completion
 * between the claim and the subscription is not missed), then a backoff poll as the safety net
 * for a lost message or a dropped pub/sub connection. One watch per claim per process, however
 * many callers wait on it. When the owner heartbeats, each poll (at least one per heartbeat)
 * also looks at its alive key, and a lost owner's claim is ended at once rather than at the end
 * of its lease: the waiters then claim again, and one of them takes over.
 */
export class ClaimWatch {
  readonly settled: Promise<DedupeSettlement>;
  private resolve!: (settlement: DedupeSettlement) => void;
  private listener?: ChannelListener;
  private timer?: ReturnType<typeof setTimeout>;
  private pollMs: number;
  private checking = false;
  private done = false;
  private readonly owner?: { readonly liveness: OwnerLiveness; readonly check: OwnerCheck };

  constructor(
    private readonly token: string,
    private readonly deps: ClaimWatchDeps,
  ) {
    this.pollMs = deps.pollMinMs;
    const check = deps.owner;
    if (check !== undefined) {
      const liveness = new OwnerLiveness(
        check.heartbeatMs,
        () => check.alive(),
        () => check.justReconnected(),
      );
      this.owner = { liveness, check };
    }
    this.settled = new Promise((resolve) => (this.resolve = resolve));
  }

  start(): Promise<DedupeSettlement> {
    this.listener = this.deps.listen((message) => this.onMessage(message));
    void this.listener.ready.then(() => this.check());
    return this.settled;
  }

  /** Ends the wait without a result: the waiter asks for the claim again. */
  cancel(): void {
    this.settle(NOT_COMPLETED);
  }

  /** `d|token|envelope` or `f|token|envelope-or-empty`. */
  private onMessage(message: string): void {
    const tokenEnd = message.indexOf('|', 2);
    if (tokenEnd < 0 || message.slice(2, tokenEnd) !== this.token) return;
    const envelope = message.slice(tokenEnd + 1);
    if (message[0] === 'd') this.settleWith(envelope);
    else this.settleWith(envelope === '' ? undefined : envelope);
  }

  private async check(): Promise<void> {
    if (this.done || this.checking) return;
    this.checking = true;
    let again = false;
    try {
      again = await this.checkOnce();
    } catch {
      // Redis is unavailable: stop waiting, the waiter's next claim falls back locally.
      this.cancel();
    } finally {
      this.checking = false;
    }
    if (again) void this.check();
  }

  /** True when the claim must be looked at again at once: its lost owner's claim was ended. */
  private async checkOnce(): Promise<boolean> {
    const reply = await this.deps.peek();
    if (reply[0] !== 'p') {
      this.onEnded(reply);
      return false;
    }
    if (this.owner !== undefined && (await this.owner.liveness.judge()) === 'lost') {
      // Looked at again rather than cancelled: the owner may have ended it meanwhile, with a
      // result its waiters must receive rather than run the call again.
      await this.owner.check.lapse();
      return true;
    }
    this.schedule(reply[1]);
    return false;
  }

  private onEnded(reply: Exclude<PeekReply, ['p', number]>): void {
    if (reply[0] === 'x') this.cancel();
    else this.settleWith(reply[1]);
  }

  /** Next check after the backoff (with jitter), or right after the lease would lapse. */
  private schedule(leaseRemainingMs: number): void {
    if (this.done) return;
    const jittered = this.pollMs * (0.8 + Math.random() * 0.4);
    this.pollMs = Math.min(this.pollMs * 2, this.deps.pollMaxMs);
    const backoff = Math.min(jittered, leaseRemainingMs + 1);
    const next = this.owner === undefined ? backoff : this.owner.liveness.nextLookInMs(backoff);
    const delay = Math.max(1, Math.min(next, leaseRemainingMs + 1));
    this.timer = setTimeout(() => void this.check(), delay);
    this.timer.unref?.();
  }

  private settleWith(envelope: string | undefined): void {
    if (envelope === undefined) return this.settle(NOT_COMPLETED);
    try {
      this.settle(this.deps.settlementOf(envelope));
    } catch {
      // An envelope this process cannot decode: run the call rather than fail it.
      this.settle(NOT_COMPLETED);
    }
  }

  private settle(settlement: DedupeSettlement): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.listener?.close();
    this.deps.ended();
    this.resolve(settlement);
  }
}
