import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { backpressureKind } from '../backpressure/backpressure.kind.js';
import { circuitBreakerKind } from '../circuit-breaker/circuit-breaker.kind.js';
import type { EventBus, CircuitState, OrchestratorEvent } from '../core/events.js';
import { InvalidOptionsError } from '../core/invalid-options.error.js';
import { PolicyEngine } from '../core/policy-engine.js';
import type { PolicyKind } from '../core/policy-kind.js';
import { dedupeKind } from '../dedupe/dedupe.kind.js';
import { Pipeline } from '../pipeline/pipeline.js';
import { rateLimitKind } from '../rate-limit/rate-limit.kind.js';
import type { RateLimitUnits } from '../rate-limit/rate-limit.store.js';
import { ORCHESTRATOR_EVENTS } from './orchestrator.constants.js';

/**
 * A circuit as the Orchestrator service exposes it.
 *
 * @publicApi
 */
export interface CircuitHandle {
  state(): Promise<CircuitState>;
  failureCount(): Promise<number>;
  open(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A backpressure guard as the Orchestrator service exposes it.
 *
 * @publicApi
 */
export interface BackpressureHandle {
  /** Slots held now. */
  depth(): Promise<number>;
  hardCapacity(): number;
  /** Depth divided by the soft limit; 0 without a soft limit. */
  softDepthRatio(): Promise<number>;
}

/**
 * A dedupe as the Orchestrator service exposes it.
 *
 * @publicApi
 */
export interface DedupeHandle {
  /** Drops `key`'s cached result and claim, so the next call with it runs again. */
  forget(key: string): Promise<void>;
  /** Entries (cached results and claims) held under this name. */
  size(): Promise<number>;
}

/**
 * A rate limiter as the Orchestrator service exposes it.
 *
 * @publicApi
 */
export interface RateLimitHandle {
  /** Whole requests and tokens free now (0 during a provider cooldown). */
  available(): Promise<RateLimitUnits>;
  /** Forgets the limiter's usage and cooldown (fleet-wide on a shared store). */
  reset(): Promise<void>;
}

/**
 * The application's view of its policies: circuit state and manual control, backpressure depth,
 * dedupe entries, pipelines and the event stream. One per Nest application.
 *
 * @publicApi
 */
@Injectable()
export class Orchestrator implements OnApplicationShutdown {
  /** Typed events: circuit transitions, retries, dedupe hits, sheds, pipeline stages. */
  readonly events$: Observable<OrchestratorEvent>;
  /** Names handed to `pipeline()`, in first-use order. */
  private readonly pipelineNames = new Set<string>();

  /** @internal Nest builds it; inject `Orchestrator` instead. */
  constructor(
    private readonly engine: PolicyEngine,
    @Inject(ORCHESTRATOR_EVENTS) private readonly bus: EventBus,
  ) {
    this.events$ = bus.events$;
  }

  /**
   * The circuit called `name`; a name nothing uses yet reads closed with 0 failures. Looking a
   * circuit up does not register it: the handle finds the circuit at each call, so one taken
   * before a decorator or stage first uses the name still sees that circuit and its options.
   */
  circuit(name: string): CircuitHandle {
    const policy = () => this.engine.lookup(circuitBreakerKind, name);
    return {
      state: () => policy().state(),
      failureCount: () => policy().failureCount(),
      open: () => policy().open(),
      close: () => policy().close(),
    };
  }

  /** The circuit names this application's decorators and pipelines use. */
  circuits(): string[] {
    return this.engine.names(circuitBreakerKind);
  }

  /**
   * The backpressure guard called `name` (its `name` option, policy name or `Class.method`).
   * @throws {InvalidOptionsError} when no decorator or pipeline stage of this application uses it
   */
  backpressure(name: string): BackpressureHandle {
    const guard = this.used(backpressureKind, name, 'backpressure', 'backpressure guard');
    return {
      depth: () => guard.depth(),
      hardCapacity: () => guard.hardCapacity(),
      softDepthRatio: () => guard.softDepthRatio(),
    };
  }

  /**
   * The dedupe called `name`; while nothing uses the name, its calls do nothing. The handle
   * finds the deduplicator at each call, so one taken early works once the name is in use.
   */
  dedupe(name: string): DedupeHandle {
    const deduplicator = () => this.engine.existing(dedupeKind, name);
    return {
      forget: async (key) => deduplicator()?.forget(key),
      size: async () => (await deduplicator()?.size()) ?? 0,
    };
  }

  /**
   * The rate limiter called `name` (its `name` option, policy name or `Class.method`).
   * @throws {InvalidOptionsError} when no decorator or pipeline stage of this application uses it
   */
  rateLimit(name: string): RateLimitHandle {
    const limiter = this.used(rateLimitKind, name, 'rateLimit', 'rate limiter');
    return { available: () => limiter.available(), reset: () => limiter.reset() };
  }

  /** The rate limiter names this application's decorators and pipelines use. */
  rateLimits(): string[] {
    return this.engine.names(rateLimitKind);
  }

  /**
   * A new pipeline builder registered under `name`. Its stage policies share this application's
   * named policies and state, and its runs report on `events$`.
   *
   * @example
   * const chat = orchestrator
   *   .pipeline<string>('chat')
   *   .addStage('infer', (prompt) => llm.complete(prompt), { policy: 'openai' });
   */
  pipeline<I>(name: string): Pipeline<I, I> {
    const pipeline = new Pipeline<I>(name, this.engine);
    this.pipelineNames.add(name);
    return pipeline;
  }

  /** The names of the pipelines built with `pipeline()`. */
  pipelines(): string[] {
    return [...this.pipelineNames];
  }

  /** The primitive of `kind` called `name`, which this application must use. */
  private used<P>(kind: PolicyKind<string, any, P>, name: string, method: string, what: string): P {
    const primitive = this.engine.existing(kind, name);
    if (primitive !== undefined) return primitive;
    const known = this.engine.names(kind).map((n) => JSON.stringify(n));
    const knownText = known.length > 0 ? `known: ${known.join(', ')}` : 'none is used';
    throw new InvalidOptionsError(
      `Orchestrator.${method}(${JSON.stringify(name)})`,
      `names no ${what} of this application (${knownText})`,
    );
  }

  onApplicationShutdown(): void {
    this.bus.complete();
  }
}
