import { systemClock, type Clock } from '../core/clock.js';
import { silentSink, type EventSink } from '../core/events.js';
import { LeaseRenewer } from '../core/lease-renewer.js';
import type { Call, Step } from '../core/layer.js';
import { isPromiseLike, type MaybePromise } from '../core/maybe-promise.js';
import { withoutStack } from '../core/orchestrator.error.js';
import {
  resolveBackpressureOptions,
  type BackpressureOptions,
  type ResolvedBackpressureOptions,
} from './backpressure-options.js';
import { BackpressureShedError } from './backpressure-shed.error.js';
import type {
  BackpressureAcquisition,
  BackpressureConfig,
  BackpressureStore,
} from './backpressure.store.js';
import { QueuedCall, runHolding } from './held-call.js';
import { InMemoryBackpressureStore } from './in-memory-backpressure.store.js';
// The guard is its slots' SlotOwner (`free`) structurally: an `implements SlotOwner` clause would
// name an @internal interface, stripped from the published declarations.
import { Slot } from './slot.js';
import { PermitWaiter, WaiterQueue, type Waiter } from './waiter-queue.js';

/**
 * What a `BackpressureGuard` gets from its application (the decorator passes all four).
 *
 * @publicApi
 */
export interface BackpressureRuntime {
  clock?: Clock;
  events?: EventSink;
  /** The name of the slots in the store and in events; the decorator passes its guard name. */
  name?: string;
  /** Where soft-limit warnings go (at most one per `SOFT_LIMIT_WARNING_INTERVAL_MS`). */
  logger?: { warn(message: string): void };
}

/**
 * A held slot. `release()` frees it; calling it again does nothing.
 *
 * @publicApi
 */
export interface BackpressurePermit {
  release(): void;
}

/**
 * At most one soft-limit warning per guard in this interval; the events are not limited.
 *
 * @publicApi
 */
export const SOFT_LIMIT_WARNING_INTERVAL_MS = 10_000;
/** How often waiters ask the store for a slot freed outside this guard (another process). */
const WAITER_POLL_MS = 100;
/** Weight of the newest hold time in the running average behind `retryAfterMs`. */
const HOLD_TIME_WEIGHT = 0.2;
/**
 * Once a hold time is known, one slot in this many (a power of two) is timed: the average only
 * feeds a shed's Retry-After hint, and two clock readings per slot were a third of a queued
 * call's cost.
 */
const HOLD_SAMPLE_EVERY = 8;
/** `grantedAt` of a slot whose hold is not timed. */
const UNTIMED = -1;

/**
 * A concurrency cap over a store: at most `capacity` slots held per name, never more. Past it a
 * caller is shed at once with `BackpressureShedError`, or, with `maxWaitMs`, waits in arrival
 * order; a freed slot goes straight to the oldest waiter, so no newcomer overtakes it. Pure: no
 * Nest, clock injected.
 *
 * @publicApi
 * @example
 * const guard = new BackpressureGuard({ capacity: 8, softLimit: 6 });
 * await guard.tryAcquire(); // rejects with BackpressureShedError when 8 are held
 * try { await work(); } finally { await guard.release(); }
 */
export class BackpressureGuard {
  readonly options: ResolvedBackpressureOptions;
  readonly name: string;
  readonly store: BackpressureStore;
  readonly clock: Clock;
  private readonly config: BackpressureConfig;
  private readonly events: EventSink;
  private readonly logger: BackpressureRuntime['logger'];
  private readonly renewer: LeaseRenewer | undefined;
  private readonly waiters = new WaiterQueue();
  /** Slots taken with `tryAcquire`, freed oldest first by `release`. */
  private readonly anonymous: BackpressurePermit[] = [];
  private timer: { at: number; stop: AbortController } | undefined;
  /** Set once callers first wait; kept for the guard's life (the store closes it on shutdown). */
  private releases: { close(): void } | undefined;
  private watching = false;
  private averageHoldMs: number | undefined;
  private grants = 0;
  private storeRetryAfterMs: number | undefined;
  private lastDepth = 0;
  private lastWarningAt = -Infinity;
  private suppressedWarnings = 0;

  constructor(
    options: BackpressureOptions,
    store?: BackpressureStore,
    runtime: BackpressureRuntime = {},
  ) {
    this.options = resolveBackpressureOptions(options, 'BackpressureGuard');
    this.name = runtime.name ?? this.options.name ?? 'backpressure';
    this.clock = runtime.clock ?? systemClock;
    this.store = store ?? new InMemoryBackpressureStore(this.clock);
    this.events = runtime.events ?? silentSink;
    this.logger = runtime.logger;
    this.config = { capacity: this.options.capacity, leaseMs: this.options.leaseMs };
    if (this.store.leasesExpire !== false) {
      this.renewer = new LeaseRenewer(this.options.leaseMs, (e) => this.storeError('renew', e));
    }
  }

  /** The configured hard limit. */
  hardCapacity(): number {
    return this.options.capacity;
  }

  /** Slots held now, across every user of the store. */
  async depth(): Promise<number> {
    return this.store.depth(this.name);
  }

  /** Depth divided by the soft limit (above 1: past it); 0 without a soft limit. */
  async softDepthRatio(): Promise<number> {
    const { softLimit } = this.options;
    if (softLimit === undefined) return 0;
    return (await this.depth()) / softLimit;
  }

  /**
   * Takes a slot now, or rejects with `BackpressureShedError`; never waits. Free it with
   * `release()`.
   */
  async tryAcquire(): Promise<void> {
    this.anonymous.push(await this.admit(false));
  }

  /** Frees the oldest slot taken with `tryAcquire`; does nothing when none is held. */
  async release(): Promise<void> {
    this.anonymous.shift()?.release();
  }

  /**
   * Takes a slot, waiting up to `maxWaitMs` in arrival order. Rejects with
   * `BackpressureShedError`, or with the signal's reason when `signal` aborts the wait.
   */
  acquire(signal?: AbortSignal): Promise<BackpressurePermit> {
    return Promise.resolve(this.admit(true, signal));
  }

  /**
   * @internal The stream's entry: a permit (synchronously when the store answers synchronously),
   * or a rejected promise. Never throws.
   */
  admit(wait: boolean, signal?: AbortSignal): MaybePromise<BackpressurePermit> {
    // Callers already waiting go first: a newcomer may not take a slot ahead of them.
    if (this.waiters.size > 0) return this.waitOrShed(wait, signal);
    let answer: MaybePromise<BackpressureAcquisition>;
    try {
      answer = this.store.acquire(this.name, this.config);
    } catch (error) {
      return this.storeFailed(error);
    }
    if (!isPromiseLike(answer)) return this.decide(answer, wait, signal);
    return this.decideWhenAnswered(answer, wait, signal);
  }

  /**
   * @internal The layer's entry: runs `next` holding a slot, now or once one is handed over, and
   * frees the slot when the call settles. Never throws. Unlike `admit`, a waiting call is not
   * given a permit to run with later: the slot is handed straight to it, and it runs at once.
   */
  hold(next: Step, call: Call): Promise<unknown> {
    if (this.waiters.size > 0) return this.queueOrShed(next, call);
    let answer: MaybePromise<BackpressureAcquisition>;
    try {
      answer = this.store.acquire(this.name, this.config);
    } catch (error) {
      return this.storeFailed(error);
    }
    if (!isPromiseLike(answer)) return this.holdOrQueue(answer, next, call);
    return this.holdWhenAnswered(answer, next, call);
  }

  /** @internal Called once per slot, by its `release()`. */
  free(slot: Slot): void {
    slot.lease?.end();
    if (slot.grantedAt !== UNTIMED) this.observeHold(this.clock.now() - slot.grantedAt);
    const waiter = this.waiters.shift();
    if (waiter === undefined) return this.releaseToStore(slot.token);
    this.handOver(waiter, this.fill(waiter.slot(), slot.token));
  }

  // Apart from their callers, so that their closures cost nothing on the synchronous path: a
  // closure anywhere in a function body makes V8 allocate its context on every call.
  private decideWhenAnswered(
    answer: PromiseLike<BackpressureAcquisition>,
    wait: boolean,
    signal: AbortSignal | undefined,
  ): Promise<BackpressurePermit> {
    return Promise.resolve(answer).then(
      (a) => this.decide(a, wait, signal),
      (error) => this.storeFailed(error),
    );
  }

  private holdWhenAnswered(
    answer: PromiseLike<BackpressureAcquisition>,
    next: Step,
    call: Call,
  ): Promise<unknown> {
    return Promise.resolve(answer).then(
      (a) => this.holdOrQueue(a, next, call),
      (error) => this.storeFailed(error),
    );
  }

  private decide(
    answer: BackpressureAcquisition,
    wait: boolean,
    signal: AbortSignal | undefined,
  ): MaybePromise<BackpressurePermit> {
    if (answer.granted) return this.grant(new Slot(this), answer.token, answer.depth);
    this.refused(answer);
    return this.waitOrShed(wait, signal);
  }

  private holdOrQueue(answer: BackpressureAcquisition, next: Step, call: Call): Promise<unknown> {
    if (answer.granted) {
      return runHolding(this.grant(new Slot(this), answer.token, answer.depth), next, call);
    }
    this.refused(answer);
    return this.queueOrShed(next, call);
  }

  private refused(answer: BackpressureAcquisition & { granted: false }): void {
    this.lastDepth = answer.depth;
    this.storeRetryAfterMs = answer.retryAfterMs;
  }

  private grant(slot: Slot, token: string, depth: number): Slot {
    this.lastDepth = depth;
    const { softLimit } = this.options;
    if (softLimit !== undefined && depth >= softLimit) this.softLimitReached(depth, softLimit);
    return this.fill(slot, token);
  }

  private fill(slot: Slot, token: string): Slot {
    slot.token = token;
    slot.grantedAt = this.timesHold() ? this.clock.now() : UNTIMED;
    if (this.renewer !== undefined) this.renewSlot(slot);
    return slot;
  }

  private renewSlot(slot: Slot): void {
    const { token } = slot;
    slot.lease = this.renewer!.hold(() => this.store.renew(this.name, token, this.config));
  }

  private waitOrShed(wait: boolean, signal: AbortSignal | undefined): Promise<BackpressurePermit> {
    if (!this.mayWait(wait)) return Promise.reject(this.shed(0));
    if (signal?.aborted) return Promise.reject(signal.reason);
    const waiter = new PermitWaiter(this);
    if (signal !== undefined) this.cancelOnAbort(waiter, signal);
    this.enqueue(waiter);
    return waiter.promise;
  }

  /** As `waitOrShed`, for a call of the layer: a call whose signal aborts leaves the queue. */
  private queueOrShed(next: Step, call: Call): Promise<unknown> {
    if (!this.mayWait(true)) return Promise.reject(this.shed(0));
    const { signal } = call;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const waiter = new QueuedCall(this, next, call);
    if (signal !== undefined) this.cancelOnAbort(waiter, signal);
    this.enqueue(waiter);
    return waiter.promise;
  }

  private mayWait(wait: boolean): boolean {
    const { maxWaitMs, maxQueue } = this.options;
    return wait && maxWaitMs > 0 && this.waiters.size < maxQueue;
  }

  private enqueue(waiter: Waiter): void {
    const now = this.clock.now();
    waiter.deadline = now + this.options.maxWaitMs;
    this.waiters.push(waiter);
    if (!this.watching) this.watchReleases();
    if (this.events.active) {
      const { name: guard, lastDepth: depth } = this;
      this.events.emit({ type: 'backpressure.waiting', guard, depth, queued: this.waiters.size });
    }
    this.arm(now);
  }

  private watchReleases(): void {
    this.watching = true;
    this.releases = this.store.watchReleases?.(this.name, () => this.releasedElsewhere());
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
    if (this.waiters.size === 0) this.disarm();
    waiter.take(slot);
  }

  /**
   * One timer per guard, for the oldest waiter's deadline (or the next poll of the store,
   * whichever comes first): deadlines grow in queue order, so no waiter needs its own.
   */
  private arm(now: number): void {
    const head = this.waiters.peek();
    if (head === undefined) return this.disarm();
    const at = Math.min(head.deadline, now + WAITER_POLL_MS);
    if (this.timer !== undefined && this.timer.at <= at) return;
    this.startTimer(at, now);
  }

  private startTimer(at: number, now: number): void {
    this.disarm();
    const stop = new AbortController();
    this.timer = { at, stop };
    this.clock.sleep(Math.max(0, at - now), stop.signal).then(
      () => {
        if (this.timer?.stop !== stop) return;
        this.timer = undefined;
        this.onTimer();
      },
      () => undefined,
    );
  }

  private disarm(): void {
    this.timer?.stop.abort();
    this.timer = undefined;
  }

  private onTimer(): void {
    const now = this.clock.now();
    for (let head = this.waiters.peek(); head && head.deadline <= now; head = this.waiters.peek()) {
      this.waiters.shift();
      head.detach?.();
      head.reject(this.shed(this.options.maxWaitMs));
    }
    if (this.waiters.size > 0) this.pollStore();
    this.arm(now);
  }

  private releasedElsewhere(): void {
    if (this.waiters.size > 0) this.pollStore();
  }

  /** Asks the store for a slot freed outside this guard (by another process) for the oldest waiter. */
  private pollStore(): void {
    let answer: MaybePromise<BackpressureAcquisition>;
    try {
      answer = this.store.acquire(this.name, this.config);
    } catch (error) {
      return this.storeError('acquire', error);
    }
    if (!isPromiseLike(answer)) return this.polled(answer);
    this.pollWhenAnswered(answer);
  }

  private pollWhenAnswered(answer: PromiseLike<BackpressureAcquisition>): void {
    answer.then(
      (a) => this.polled(a),
      (error) => this.storeError('acquire', error),
    );
  }

  private polled(answer: BackpressureAcquisition): void {
    if (!answer.granted) {
      this.lastDepth = answer.depth;
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter === undefined) return this.releaseToStore(answer.token);
    this.handOver(waiter, this.grant(waiter.slot(), answer.token, answer.depth));
  }

  private releaseToStore(token: string): void {
    try {
      const depth = this.store.release(this.name, token);
      if (!isPromiseLike(depth)) this.lastDepth = depth;
      else this.depthWhenReleased(depth);
    } catch (error) {
      this.storeError('release', error);
    }
  }

  private depthWhenReleased(depth: PromiseLike<number>): void {
    depth.then(
      (d) => (this.lastDepth = d),
      (error) => this.storeError('release', error),
    );
  }

  private shed(waitedMs: number): BackpressureShedError {
    const { name, lastDepth: depth } = this;
    const { capacity } = this.options;
    const retryAfterMs = this.retryAfterEstimate();
    if (this.events.active) {
      this.events.emit({
        type: 'backpressure.shed',
        guard: name,
        depth,
        capacity,
        waited: waitedMs > 0,
      });
    }
    return withoutStack(
      () => new BackpressureShedError(name, depth, capacity, retryAfterMs, waitedMs),
    );
  }

  /**
   * When a slot should free for a caller shed now: every slot turns over once per average hold
   * time, so the next of `capacity` frees in about `average / capacity`, and this caller would
   * come after everyone already waiting.
   */
  private retryAfterEstimate(): number {
    // A store's hint is when the earliest lease lapses: when a crashed holder would free its slot.
    // A live holder frees sooner, so before any hold is observed the hint is capped at 1 s.
    if (this.averageHoldMs === undefined) return Math.min(this.storeRetryAfterMs ?? 1000, 1000);
    const turns = this.waiters.size + 1;
    return Math.max(1, Math.ceil((this.averageHoldMs * turns) / this.options.capacity));
  }

  /** Every slot until a hold time is known, then one in `HOLD_SAMPLE_EVERY`. */
  private timesHold(): boolean {
    return this.averageHoldMs === undefined || (++this.grants & (HOLD_SAMPLE_EVERY - 1)) === 0;
  }

  private observeHold(ms: number): void {
    const sample = Math.max(0, ms);
    this.averageHoldMs =
      this.averageHoldMs === undefined
        ? sample
        : this.averageHoldMs + (sample - this.averageHoldMs) * HOLD_TIME_WEIGHT;
  }

  private softLimitReached(depth: number, softLimit: number): void {
    const { name: guard } = this;
    const { capacity } = this.options;
    if (this.events.active) {
      this.events.emit({ type: 'backpressure.soft-limit', guard, depth, softLimit, capacity });
    }
    if (this.logger === undefined) return;
    const now = this.clock.now();
    if (now - this.lastWarningAt < SOFT_LIMIT_WARNING_INTERVAL_MS) {
      this.suppressedWarnings++;
      return;
    }
    const suppressed = this.suppressedWarnings;
    this.lastWarningAt = now;
    this.suppressedWarnings = 0;
    this.logger.warn(
      `backpressure "${guard}": ${depth} calls in flight reached the soft limit of ${softLimit} (capacity ${capacity})` +
        (suppressed > 0 ? `; ${suppressed} more times since the last warning` : ''),
    );
  }

  private storeFailed(error: unknown): Promise<never> {
    this.storeError('acquire', error);
    return Promise.reject(error);
  }

  private storeError(operation: string, error: unknown): void {
    if (!this.events.active) return;
    this.events.emit({
      type: 'store.error',
      primitive: 'backpressure',
      name: this.name,
      operation,
      error,
    });
  }
}
