import type { DedupeSettlement } from '../dedupe/dedupe.store.js';
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
}

const NOT_COMPLETED: DedupeSettlement = { completed: false };

/**
 * Waits for one claim held by another process to end: subscribe, then check (so a completion
 * between the claim and the subscription is not missed), then a backoff poll as the safety net
 * for a lost message or a dropped pub/sub connection. One watch per claim per process, however
 * many callers wait on it.
 */
export class ClaimWatch {
  readonly settled: Promise<DedupeSettlement>;
  private resolve!: (settlement: DedupeSettlement) => void;
  private listener?: ChannelListener;
  private timer?: ReturnType<typeof setTimeout>;
  private pollMs: number;
  private checking = false;
  private done = false;

  constructor(
    private readonly token: string,
    private readonly deps: ClaimWatchDeps,
  ) {
    this.pollMs = deps.pollMinMs;
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

  private check(): void {
    if (this.done || this.checking) return;
    this.checking = true;
    this.deps.peek().then(
      (reply) => {
        this.checking = false;
        this.onPeek(reply);
      },
      // Redis is unavailable: stop waiting, the waiter's next claim falls back locally.
      () => this.cancel(),
    );
  }

  private onPeek(reply: PeekReply): void {
    if (reply[0] === 'c' || reply[0] === 'd') return this.settleWith(reply[1]);
    if (reply[0] === 'x') return this.cancel();
    this.schedule(reply[1]);
  }

  /** Next check after the backoff (with jitter), or right after the lease would lapse. */
  private schedule(leaseRemainingMs: number): void {
    if (this.done) return;
    const jittered = this.pollMs * (0.8 + Math.random() * 0.4);
    this.pollMs = Math.min(this.pollMs * 2, this.deps.pollMaxMs);
    const delay = Math.max(1, Math.min(jittered, leaseRemainingMs + 1));
    this.timer = setTimeout(() => this.check(), delay);
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
