import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { backpressureKind } from '../backpressure/backpressure.kind.js';
import { circuitBreakerKind } from '../circuit-breaker/circuit-breaker.kind.js';
import type { EventBus, CircuitState, OrchestratorEvent } from '../core/events.js';
import { InvalidOptionsError } from '../core/invalid-options.error.js';
import { PolicyEngine } from '../core/policy-engine.js';
import { dedupeKind } from '../dedupe/dedupe.kind.js';
import { Pipeline } from '../pipeline/pipeline.js';
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
    const guard = this.engine.existing(backpressureKind, name);
    if (guard === undefined) {
      const known = this.engine.names(backpressureKind).map((n) => JSON.stringify(n));
      throw new InvalidOptionsError(
        `Orchestrator.backpressure(${JSON.stringify(name)})`,
        `names no backpressure guard of this application (${known.length > 0 ? `known: ${known.join(', ')}` : 'none is used'})`,
      );
    }
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

  onApplicationShutdown(): void {
    this.bus.complete();
  }
}
