import type { Clock } from '../core/clock.js';
import { LeaseRenewer } from '../core/lease-renewer.js';
import { isPromiseLike, type MaybePromise } from '../core/maybe-promise.js';
import type { ResolvedBackpressureOptions } from './backpressure-options.js';
import type { BackpressureTelemetry } from './backpressure-telemetry.js';
import type {
  BackpressureAcquireRequest,
  BackpressureAcquisition,
  BackpressureStore,
} from './backpressure.store.js';
import { EarliestTimer } from './earliest-timer.js';
import type { Call, Step } from '../core/layer.js';
import { QueuedCall, runHolding } from './held-call.js';
import { Slot, type SlotOwner } from './slot.js';
import { WaiterQueue, type Waiter } from './waiter-queue.js';

/** How often waiters ask the store for a slot freed outside this guard (another process). */
const WAITER_POLL_MS = 100;

/** What a `SlotEngine` works with: its guard's name, options, store, clock and telemetry. */
export interface SlotEngineParts {
  readonly name: string;
  readonly options: ResolvedBackpressureOptions;
  readonly store: BackpressureStore;
  readonly clock: Clock;
  readonly telemetry: BackpressureTelemetry;
}

/**
 * The acquisition engine behind every way into a guard. A caller (a `Waiter`) takes a slot at
 * once, or waits in arrival order up to `maxWaitMs`, or is refused. A freed slot is offered to
 * the oldest waiter through the store (`handOver`), which re-validates it, so a slot that
 * lapsed, or that a store granted while it could not count it (a fallback), leaves circulation
 * at its first release. Only a store whose slots never lapse (`leasesExpire: false`, the
 * in-memory store) has its freed slots passed on in-process: they cannot have become invalid.
 */
export class SlotEngine implements SlotOwner {
  private readonly store: BackpressureStore;
  private readonly telemetry: BackpressureTelemetry;
  private readonly clock: Clock;
  private readonly options: ResolvedBackpressureOptions;
  private readonly renewer: LeaseRenewer | undefined;
  private readonly waiters = new WaiterQueue();
  private readonly timer: EarliestTimer;
  /** The two acquire requests of this guard, built once: a shedding and a waiting caller's. */
  private readonly shedding: BackpressureAcquireRequest;
  private readonly asking: BackpressureAcquireRequest;
  /** Set once callers first wait; kept for the guard's life (the store closes it on shutdown). */
  private watching = false;
  private turnNow: number | undefined;
  private readonly turnEnded = () => (this.turnNow = undefined);

  constructor(parts: SlotEngineParts) {
    ({ store: this.store, telemetry: this.telemetry, clock: this.clock } = parts);
    this.options = parts.options;
    const config = { capacity: this.options.capacity, leaseMs: this.options.leaseMs };
    this.shedding = { name: parts.name, config, waiting: false };
    this.asking = { name: parts.name, config, waiting: true };
    this.timer = new EarliestTimer(this.clock, () => this.onTimer());
    if (this.store.leasesExpire !== false) {
      const onFailure = (error: unknown) => this.telemetry.storeError('renew', error);
      this.renewer = new LeaseRenewer(this.options.leaseMs, onFailure);
    }
  }

  /**
   * The way in of a call of the layer: runs `next` holding a slot, taken now or once one is
   * handed over, and frees the slot when the call settles. Never throws. A slot a synchronous
   * store grants at once needs no waiter: the call runs at once.
   */
  run(next: Step, call: Call): Promise<unknown> {
    const signal = call.signal;
    if (this.waiters.size > 0 || signal?.aborted) return this.queue(next, call);
    const answer = this.askStore(true);
    if (!isPromiseLike(answer) && answer.granted) {
      return runHolding(this.grant(new Slot(this), answer.token, answer.depth), next, call);
    }
    const waiter = new QueuedCall(this, next, call);
    this.answered(answer, waiter, true, signal);
    return waiter.promise;
  }

  /**
   * The one way in for every other caller: `waiter` takes a slot now, or queues when `wait`
   * allows it, or is rejected (shed, its signal's reason, or the store's error). Never throws.
   */
  claim(waiter: Waiter, wait: boolean, signal: AbortSignal | undefined): void {
    // A caller that already left gets nothing, even when a slot is free.
    if (signal?.aborted) return waiter.reject(signal.reason);
    // Callers already waiting go first: a newcomer may not take a slot ahead of them.
    if (this.waiters.size > 0) return this.queueOrShed(waiter, wait, signal);
    this.answered(this.askStore(wait), waiter, wait, signal);
  }

  /** @internal Called once per slot, by its `release()`. */
  free(slot: Slot): void {
    slot.lease?.end();
    this.telemetry.freed(slot.grantedAt);
    if (this.waiters.size === 0) return this.releaseToStore(slot.token);
    if (this.renewer === undefined) return this.passOn(slot.token);
    this.ask(slot.token);
  }

  /**
   * A store whose slots never lapse counts a slot until it is released, so the freed slot is
   * still valid: it goes straight to the oldest waiter, token and all, with no store call.
   */
  private passOn(token: string): void {
    const waiter = this.waiters.shift()!;
    this.handOver(waiter, this.grant(waiter.slot(), token, this.telemetry.depth));
  }

  private queue(next: Step, call: Call): Promise<unknown> {
    const waiter = new QueuedCall(this, next, call);
    this.claim(waiter, true, call.signal);
    return waiter.promise;
  }

  /** The store's answer to a caller asking now; a store that throws answers a rejection. */
  private askStore(wait: boolean): MaybePromise<BackpressureAcquisition> {
    try {
      return this.store.acquire(this.mayWait(wait) ? this.asking : this.shedding);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private answered(
    answer: MaybePromise<BackpressureAcquisition>,
    waiter: Waiter,
    wait: boolean,
    signal: AbortSignal | undefined,
  ): void {
    if (!isPromiseLike(answer)) return this.decide(answer, waiter, wait, signal);
    this.decideWhenAnswered(answer, waiter, wait, signal);
  }

  // Apart from its caller, so that its closures cost nothing on the synchronous path: a closure
  // anywhere in a function body makes V8 allocate its context on every call.
  private decideWhenAnswered(
    answer: PromiseLike<BackpressureAcquisition>,
    waiter: Waiter,
    wait: boolean,
    signal: AbortSignal | undefined,
  ): void {
    answer.then(
      (a) => this.decide(a, waiter, wait, signal),
      (error) => this.acquireFailed(waiter, error),
    );
  }

  private decide(
    answer: BackpressureAcquisition,
    waiter: Waiter,
    wait: boolean,
    signal: AbortSignal | undefined,
  ): void {
    if (signal?.aborted) {
      // The caller left while the store decided: a slot granted meanwhile goes straight back.
      if (answer.granted) this.releaseToStore(answer.token);
      return waiter.reject(signal.reason);
    }
    if (answer.granted) return waiter.take(this.grant(waiter.slot(), answer.token, answer.depth));
    this.telemetry.refused(answer);
    this.queueOrShed(waiter, wait, signal);
  }

  private acquireFailed(waiter: Waiter, error: unknown): void {
    this.telemetry.storeError('acquire', error);
    waiter.reject(error);
  }

  private grant(slot: Slot, token: string, depth: number): Slot {
    slot.token = token;
    slot.grantedAt = this.telemetry.granted(depth);
    if (this.renewer !== undefined) this.renew(slot);
    return slot;
  }

  private renew(slot: Slot): void {
    const request = { name: this.asking.name, token: slot.token, config: this.asking.config };
    slot.lease = this.renewer!.hold(() => this.store.renew(request));
  }

  private mayWait(wait: boolean): boolean {
    const { maxWaitMs, maxQueue } = this.options;
    return wait && maxWaitMs > 0 && this.waiters.size < maxQueue;
  }

  private queueOrShed(waiter: Waiter, wait: boolean, signal: AbortSignal | undefined): void {
    if (!this.mayWait(wait)) return waiter.reject(this.telemetry.shed(0, this.waiters.size));
    if (signal !== undefined) this.cancelOnAbort(waiter, signal);
    const now = this.nowThisTurn();
    waiter.deadline = now + this.options.maxWaitMs;
    this.waiters.push(waiter);
    if (!this.watching) this.watchReleases();
    this.telemetry.waiting(this.waiters.size);
    // A waiter behind others changes nothing to the timer, which is set for the head.
    if (this.waiters.size === 1) this.arm(now);
  }

  /**
   * The clock read once per turn of the event loop's job queue (until the next microtask
   * checkpoint), as Node's own timers read it once per loop iteration: 10,000 calls queued by
   * one synchronous loop read it once, not 10,000 times (a third of what queueing cost).
   */
  private nowThisTurn(): number {
    let now = this.turnNow;
    if (now === undefined) {
      now = this.turnNow = this.clock.now();
      queueMicrotask(this.turnEnded);
    }
    return now;
  }

  private watchReleases(): void {
    this.watching = true;
    const listener = () => this.releasedElsewhere();
    this.store.watchReleases?.({ name: this.asking.name, listener });
  }

  private cancelOnAbort(waiter: Waiter, signal: AbortSignal): void {
    const onAbort = () => {
      if (this.waiters.remove(waiter)) waiter.reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    waiter.detach = () => signal.removeEventListener('abort', onAbort);
  }

  /** The waiter runs (a queued call) or resumes (a permit) at once: it may queue again. */
  private handOver(waiter: Waiter, slot: Slot): void {
    waiter.detach?.();
    if (this.waiters.size === 0) this.timer.stop();
    waiter.take(slot);
  }

  /**
   * One timer per guard, for the oldest waiter's deadline (or the next poll of the store,
   * whichever comes first): deadlines grow in queue order, so no waiter needs its own.
   */
  private arm(now: number): void {
    const head = this.waiters.peek();
    if (head === undefined) return this.timer.stop();
    this.timer.schedule(Math.min(head.deadline, now + WAITER_POLL_MS), now);
  }

  private onTimer(): void {
    const now = this.clock.now();
    for (let head = this.waiters.peek(); head && head.deadline <= now; head = this.waiters.peek()) {
      this.waiters.shift();
      head.detach?.();
      head.reject(this.telemetry.shed(this.options.maxWaitMs, this.waiters.size));
    }
    if (this.waiters.size > 0) this.ask(undefined);
    this.arm(now);
  }

  private releasedElsewhere(): void {
    if (this.waiters.size > 0) this.ask(undefined);
  }

  /**
   * Asks the store for a slot for the oldest waiter: a new one (a poll, or a wake-up from
   * another process), or, with `freeing`, the one this guard frees now.
   */
  private ask(freeing: string | undefined): void {
    let answer: MaybePromise<BackpressureAcquisition>;
    try {
      answer =
        freeing === undefined
          ? this.store.acquire(this.asking)
          : this.store.handOver({ ...this.asking, token: freeing });
    } catch (error) {
      return this.askFailed(freeing, error);
    }
    if (!isPromiseLike(answer)) return this.asked(answer);
    this.askWhenAnswered(answer, freeing);
  }

  private askWhenAnswered(
    answer: PromiseLike<BackpressureAcquisition>,
    freeing: string | undefined,
  ): void {
    answer.then(
      (a) => this.asked(a),
      (error) => this.askFailed(freeing, error),
    );
  }

  private asked(answer: BackpressureAcquisition): void {
    if (!answer.granted) return this.telemetry.refused(answer);
    const waiter = this.waiters.shift();
    if (waiter === undefined) return this.releaseToStore(answer.token);
    this.handOver(waiter, this.grant(waiter.slot(), answer.token, answer.depth));
  }

  /**
   * A failed hand-over may not have freed its slot: it is released once more (releasing a slot
   * already freed is ignored), so that a failure never leaks it.
   */
  private askFailed(freeing: string | undefined, error: unknown): void {
    this.telemetry.storeError(freeing === undefined ? 'acquire' : 'handOver', error);
    if (freeing !== undefined) this.releaseToStore(freeing);
  }

  private releaseToStore(token: string): void {
    try {
      const depth = this.store.release({ name: this.asking.name, token });
      if (!isPromiseLike(depth)) this.telemetry.depthIs(depth);
      else this.depthWhenReleased(depth);
    } catch (error) {
      this.telemetry.storeError('release', error);
    }
  }

  private depthWhenReleased(depth: PromiseLike<number>): void {
    depth.then(
      (d) => this.telemetry.depthIs(d),
      (error) => this.telemetry.storeError('release', error),
    );
  }
}
