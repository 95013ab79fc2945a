import { systemClock, type Clock } from '../core/clock.js';
import { silentSink, type EventSink } from '../core/events.js';
import { InvalidOptionsError } from '../core/invalid-options.error.js';
import { isPromiseLike, type MaybePromise } from '../core/maybe-promise.js';
import { rateLimitResetHintMs } from '../core/retry-after.js';
import { InMemoryRateLimitStore } from './in-memory-rate-limit.store.js';
import { RateLimitedError } from './rate-limited.error.js';
import {
  resolveRateLimitOptions,
  type RateLimitOptions,
  type ResolvedRateLimitOptions,
} from './rate-limit-options.js';
import type {
  RateLimitConfig,
  RateLimitDecision,
  RateLimitStore,
  RateLimitUnits,
} from './rate-limit.store.js';

/** What a rate limiter is built with besides its options. */
export interface RateLimiterDependencies {
  clock?: Clock;
  events?: EventSink;
}

/** Capacity one call holds: the units it reserved, charged again when it settles. */
export interface RateLimitTicket {
  readonly units: RateLimitUnits;
}

const NO_TOKENS: RateLimitTicket = { units: { requests: 1 } };

/**
 * Requests and tokens per interval, shared by name (and fleet-wide through a shared store). A
 * call reserves before it runs, waits in arrival order up to `maxWaitMs`, and is charged what it
 * really used when it settles. A provider's 429 with a reset hint pauses every caller.
 *
 * @publicApi
 */
export class RateLimiter {
  readonly options: ResolvedRateLimitOptions;
  private readonly config: RateLimitConfig;
  private readonly clock: Clock;
  private readonly events: EventSink;

  constructor(
    readonly name: string,
    options: RateLimitOptions,
    private readonly store: RateLimitStore = new InMemoryRateLimitStore(),
    dependencies: RateLimiterDependencies = {},
  ) {
    this.options = resolveRateLimitOptions(options, `RateLimiter "${name}"`);
    const { requests, tokens } = this.options;
    this.config = {
      requests: requests && { limit: requests.limit, intervalMs: requests.intervalMs },
      tokens: tokens && { limit: tokens.limit, intervalMs: tokens.intervalMs },
    };
    this.clock = dependencies.clock ?? systemClock;
    this.events = dependencies.events ?? silentSink;
  }

  /**
   * Reserves capacity for a call with these arguments; resolves once the call may start.
   * Synchronous when the store is and no wait is needed (the in-memory fast path).
   * @throws {RateLimitedError} when no capacity frees within `maxWaitMs`
   */
  acquire(args: readonly unknown[], signal?: AbortSignal): MaybePromise<RateLimitTicket> {
    const ticket = this.ticketFor(args);
    const decision = this.store.reserve({
      limiter: this.name,
      config: this.config,
      units: ticket.units,
      maxWaitMs: this.options.maxWaitMs,
    });
    if (isPromiseLike(decision)) return decision.then((d) => this.admit(d, ticket, signal));
    return this.admit(decision, ticket, signal);
  }

  /** Charges what the call really used (`tokens.actual`), or keeps the estimate. */
  /** @internal Whether `settle` would charge anything for `ticket`: tokens `actual` measures. */
  charges(ticket: RateLimitTicket): boolean {
    return this.options.tokens?.actual !== undefined && ticket.units.tokens !== undefined;
  }

  /** @internal Whether `failed` reads errors (for a provider's cooldown hint). */
  get watchesErrors(): boolean {
    return this.options.cooldownFromErrors;
  }

  settle(ticket: RateLimitTicket, result: unknown): void {
    const actual = this.options.tokens?.actual;
    const reserved = ticket.units.tokens;
    if (actual === undefined || reserved === undefined) return;
    const used = actual(result);
    if (used === undefined || !Number.isFinite(used) || used < 0) return;
    const difference = used - reserved;
    if (this.events.active) {
      this.events.emit({ type: 'rate-limit.charged', limiter: this.name, tokens: used });
    }
    if (difference !== 0) this.adjust({ tokens: difference });
  }

  /** After a failure: a provider rate limit with a reset hint pauses the limiter. */
  failed(error: unknown): void {
    if (!this.options.cooldownFromErrors) return;
    const pauseMs = rateLimitResetHintMs(error, this.clock.now());
    if (pauseMs === undefined || pauseMs <= 0) return;
    if (this.events.active) {
      this.events.emit({ type: 'rate-limit.cooldown', limiter: this.name, durationMs: pauseMs });
    }
    this.quietly(this.store.cooldown({ limiter: this.name, durationMs: pauseMs }));
  }

  /** Whole units free now in each configured dimension. */
  async available(): Promise<RateLimitUnits> {
    const units = await this.store.available({ limiter: this.name, config: this.config });
    return withoutUndefined(units);
  }

  async reset(): Promise<void> {
    await this.store.reset({ limiter: this.name, config: this.config });
  }

  private ticketFor(args: readonly unknown[]): RateLimitTicket {
    const tokens = this.options.tokens;
    if (tokens === undefined) return NO_TOKENS;
    const estimate = tokens.estimate(...args);
    if (typeof estimate !== 'number' || !Number.isFinite(estimate) || estimate < 0) {
      throw new InvalidOptionsError(
        `rate limiter "${this.name}": tokens.estimate`,
        `should return a finite number >= 0, got ${String(estimate)}; nothing was reserved`,
      );
    }
    if (estimate > tokens.limit) {
      throw new InvalidOptionsError(
        `rate limiter "${this.name}": tokens.estimate`,
        `returned ${estimate} tokens, more than the whole limit (${tokens.limit} per ${tokens.intervalMs} ms): this call can never run; raise the limit or split the call`,
      );
    }
    return {
      units: this.options.requests ? { requests: 1, tokens: estimate } : { tokens: estimate },
    };
  }

  private admit(
    decision: RateLimitDecision,
    ticket: RateLimitTicket,
    signal: AbortSignal | undefined,
  ): MaybePromise<RateLimitTicket> {
    if (!decision.granted) {
      if (this.events.active) {
        const { retryAfterMs, reason } = decision;
        this.events.emit({ type: 'rate-limit.refused', limiter: this.name, retryAfterMs, reason });
      }
      throw new RateLimitedError(this.name, decision.retryAfterMs, decision.reason);
    }
    if (decision.delayMs <= 0) return ticket;
    return this.wait(decision.delayMs, ticket, signal);
  }

  /** Waits for the reserved start; a caller that leaves gives its reservation back. */
  private async wait(delayMs: number, ticket: RateLimitTicket, signal?: AbortSignal) {
    if (this.events.active) {
      this.events.emit({ type: 'rate-limit.waiting', limiter: this.name, delayMs });
    }
    try {
      await this.clock.sleep(delayMs, signal);
      if (signal?.aborted) throw signal.reason;
    } catch (reason) {
      this.adjust(negate(ticket.units));
      throw reason;
    }
    return ticket;
  }

  private adjust(units: RateLimitUnits): void {
    this.quietly(this.store.adjust({ limiter: this.name, config: this.config, units }));
  }

  /** A charge or cooldown that fails (Redis down) must not fail the call it follows. */
  private quietly(result: MaybePromise<void>): void {
    if (isPromiseLike(result)) result.then(undefined, () => undefined);
  }
}

function negate(units: RateLimitUnits): RateLimitUnits {
  return { requests: units.requests && -units.requests, tokens: units.tokens && -units.tokens };
}

function withoutUndefined(units: RateLimitUnits): RateLimitUnits {
  const result: { requests?: number; tokens?: number } = {};
  if (units.requests !== undefined) result.requests = units.requests;
  if (units.tokens !== undefined) result.tokens = units.tokens;
  return result;
}
