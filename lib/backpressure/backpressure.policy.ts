import { systemClock, type Clock } from '../core/clock.js';
import { silentSink, type EventSink } from '../core/events.js';
import type { Call, Step } from '../core/layer.js';
import {
  resolveBackpressureOptions,
  type BackpressureOptions,
  type ResolvedBackpressureOptions,
} from './backpressure-options.js';
import type { BackpressurePermit } from './backpressure-permit.js';
import { BackpressureTelemetry } from './backpressure-telemetry.js';
import type { BackpressureStore } from './backpressure.store.js';
import { InMemoryBackpressureStore } from './in-memory-backpressure.store.js';
import { SlotEngine } from './slot-engine.js';
import { PermitWaiter } from './waiter-queue.js';

export type { BackpressurePermit } from './backpressure-permit.js';
export { SOFT_LIMIT_WARNING_INTERVAL_MS } from './backpressure-telemetry.js';

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
 * A concurrency cap over a store: at most `capacity` slots held per name, never more. Past it a
 * caller is shed at once with `BackpressureShedError`, or, with `maxWaitMs`, waits in arrival
 * order; a freed slot goes to the oldest waiter, so no newcomer overtakes it. Pure: no Nest,
 * clock injected. Every way in (`tryAcquire`, `acquire`, the layer's) is a thin adapter over
 * one `SlotEngine`.
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
  private readonly engine: SlotEngine;
  /** Slots taken with `tryAcquire`, freed oldest first by `release`. */
  private readonly anonymous: BackpressurePermit[] = [];

  constructor(
    options: BackpressureOptions,
    store?: BackpressureStore,
    runtime: BackpressureRuntime = {},
  ) {
    this.options = resolveBackpressureOptions(options, 'BackpressureGuard');
    this.name = runtime.name ?? this.options.name ?? 'backpressure';
    this.clock = runtime.clock ?? systemClock;
    this.store = store ?? new InMemoryBackpressureStore(this.clock);
    const { name, clock } = this;
    const events = runtime.events ?? silentSink;
    const telemetry = new BackpressureTelemetry(this.options, {
      name,
      clock,
      events,
      logger: runtime.logger,
    });
    this.engine = new SlotEngine({
      name,
      options: this.options,
      store: this.store,
      clock,
      telemetry,
    });
  }

  /** The configured hard limit. */
  hardCapacity(): number {
    return this.options.capacity;
  }

  /** Slots held now, across every user of the store. */
  async depth(): Promise<number> {
    return this.store.depth({ name: this.name });
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
    this.anonymous.push(await this.permit(false, undefined));
  }

  /** Frees the oldest slot taken with `tryAcquire`; does nothing when none is held. */
  async release(): Promise<void> {
    this.anonymous.shift()?.release();
  }

  /**
   * Takes a slot, waiting up to `maxWaitMs` in arrival order. Rejects with
   * `BackpressureShedError`, or with the signal's reason when `signal` has aborted (even with
   * a slot free) or aborts the wait.
   *
   * @example
   * const permit = await guard.acquire(signal);
   * try {
   *   return await work();
   * } finally {
   *   permit.release();
   * }
   */
  acquire(signal?: AbortSignal): Promise<BackpressurePermit> {
    return this.permit(true, signal);
  }

  /**
   * @internal The layer's way in: runs `next` holding a slot, now or once one is handed over,
   * and frees the slot when the call settles. Never throws.
   */
  hold(next: Step, call: Call): Promise<unknown> {
    return this.engine.run(next, call);
  }

  private permit(wait: boolean, signal: AbortSignal | undefined): Promise<BackpressurePermit> {
    const waiter = new PermitWaiter(this.engine);
    this.engine.claim(waiter, wait, signal);
    return waiter.promise;
  }
}
