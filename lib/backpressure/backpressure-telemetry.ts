import type { Clock } from '../core/clock.js';
import type { EventSink } from '../core/events.js';
import { withoutStack } from '../core/orchestrator.error.js';
import type { ResolvedBackpressureOptions } from './backpressure-options.js';
import { BackpressureShedError } from './backpressure-shed.error.js';
import type { BackpressureAcquisition } from './backpressure.store.js';

/**
 * At most one soft-limit warning per guard in this interval; the events are not limited.
 *
 * @publicApi
 */
export const SOFT_LIMIT_WARNING_INTERVAL_MS = 10_000;
/** Weight of the newest hold time in the running average behind `retryAfterMs`. */
const HOLD_TIME_WEIGHT = 0.2;
/**
 * Once a hold time is known, one slot in this many (a power of two) is timed: the average only
 * feeds a shed's Retry-After hint, and two clock readings per slot were a third of a queued
 * call's cost.
 */
const HOLD_SAMPLE_EVERY = 8;
/** `grantedAt` of a slot whose hold is not timed. */
export const UNTIMED = -1;

/** Where a guard reports: events, the soft-limit warning, and the hints of a shed. */
export interface TelemetryTargets {
  readonly name: string;
  readonly clock: Clock;
  readonly events: EventSink;
  readonly logger: { warn(message: string): void } | undefined;
}

/**
 * What a guard observes and tells: the last depth a store answered, hold times (for a shed's
 * Retry-After), events, the rate-limited soft-limit warning, and the shed errors themselves.
 */
export class BackpressureTelemetry {
  private lastDepth = 0;
  private storeRetryAfterMs: number | undefined;
  private averageHoldMs: number | undefined;
  private grants = 0;
  private lastWarningAt = -Infinity;
  private suppressedWarnings = 0;

  constructor(
    private readonly options: ResolvedBackpressureOptions,
    private readonly to: TelemetryTargets,
  ) {}

  /** A slot was granted at `depth`: when to time its hold from (`UNTIMED`: not timed). */
  granted(depth: number): number {
    this.lastDepth = depth;
    const { softLimit } = this.options;
    if (softLimit !== undefined && depth >= softLimit) this.softLimitReached(depth, softLimit);
    return this.timesHold() ? this.to.clock.now() : UNTIMED;
  }

  refused(answer: BackpressureAcquisition & { granted: false }): void {
    this.lastDepth = answer.depth;
    this.storeRetryAfterMs = answer.retryAfterMs;
  }

  /** The depth the store answered last. */
  get depth(): number {
    return this.lastDepth;
  }

  depthIs(depth: number): void {
    this.lastDepth = depth;
  }

  /** A slot granted at `grantedAt` was freed. */
  freed(grantedAt: number): void {
    if (grantedAt === UNTIMED) return;
    const sample = Math.max(0, this.to.clock.now() - grantedAt);
    this.averageHoldMs =
      this.averageHoldMs === undefined
        ? sample
        : this.averageHoldMs + (sample - this.averageHoldMs) * HOLD_TIME_WEIGHT;
  }

  waiting(queued: number): void {
    if (!this.to.events.active) return;
    const { name: guard } = this.to;
    this.to.events.emit({ type: 'backpressure.waiting', guard, depth: this.lastDepth, queued });
  }

  /** The error of a caller shed after `waitedMs` (0: at once), with `queued` still waiting. */
  shed(waitedMs: number, queued: number): BackpressureShedError {
    const { name, events } = this.to;
    const depth = this.lastDepth;
    const { capacity } = this.options;
    const retryAfterMs = this.retryAfterEstimate(queued);
    if (events.active) {
      events.emit({
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

  storeError(operation: string, error: unknown): void {
    const { name, events } = this.to;
    if (!events.active) return;
    events.emit({ type: 'store.error', primitive: 'backpressure', name, operation, error });
  }

  /**
   * When a slot should free for a caller shed now: every slot turns over once per average hold
   * time, so the next of `capacity` frees in about `average / capacity`, and this caller would
   * come after everyone already waiting.
   */
  private retryAfterEstimate(queued: number): number {
    // A store's hint is when the earliest lease lapses: when a crashed holder would free its slot.
    // A live holder frees sooner, so before any hold is observed the hint is capped at 1 s.
    if (this.averageHoldMs === undefined) return Math.min(this.storeRetryAfterMs ?? 1000, 1000);
    const turns = queued + 1;
    return Math.max(1, Math.ceil((this.averageHoldMs * turns) / this.options.capacity));
  }

  /** Every slot until a hold time is known, then one in `HOLD_SAMPLE_EVERY`. */
  private timesHold(): boolean {
    return this.averageHoldMs === undefined || (++this.grants & (HOLD_SAMPLE_EVERY - 1)) === 0;
  }

  private softLimitReached(depth: number, softLimit: number): void {
    const { name: guard, events, logger, clock } = this.to;
    const { capacity } = this.options;
    if (events.active) {
      events.emit({ type: 'backpressure.soft-limit', guard, depth, softLimit, capacity });
    }
    if (logger === undefined) return;
    const now = clock.now();
    if (now - this.lastWarningAt < SOFT_LIMIT_WARNING_INTERVAL_MS) {
      this.suppressedWarnings++;
      return;
    }
    const suppressed = this.suppressedWarnings;
    this.lastWarningAt = now;
    this.suppressedWarnings = 0;
    logger.warn(
      `backpressure "${guard}": ${depth} calls in flight reached the soft limit of ${softLimit} (capacity ${capacity})` +
        (suppressed > 0 ? `; ${suppressed} more times since the last warning` : ''),
    );
  }
}
