import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { BackpressureStore } from '../backpressure/backpressure.store.js';
import { CircuitBreakerStore } from '../circuit-breaker/circuit-breaker.store.js';
import type { Clock } from '../core/clock.js';
import { EventBus, type CircuitState, type OrchestratorEvent } from '../core/events.js';
import { InvalidOptionsError } from '../core/invalid-options.error.js';
import { DedupeStore } from '../dedupe/dedupe.store.js';
import { Pipeline } from '../pipeline/pipeline.js';
import { PolicyRuntime } from '../runtime/policy-runtime.js';
import { ORCHESTRATOR_CLOCK, ORCHESTRATOR_RESOLVED_OPTIONS } from './orchestrator.constants.js';
import type { OrchestratorModuleOptions } from './orchestrator-options.interface.js';

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
  /** @internal The application's policy state; the explorer compiles chains with it. */
  readonly runtime: PolicyRuntime;
  private readonly bus = new EventBus();
  /** Names handed to `pipeline()`, in first-use order. */
  private readonly pipelineNames = new Set<string>();

  constructor(
    @Inject(ORCHESTRATOR_RESOLVED_OPTIONS) options: OrchestratorModuleOptions,
    @Inject(ORCHESTRATOR_CLOCK) clock: Clock,
    circuitBreakerStore: CircuitBreakerStore,
    dedupeStore: DedupeStore,
    backpressureStore: BackpressureStore,
  ) {
    this.events$ = this.bus.events$;
    const logger = new Logger('Orchestrator');
    this.runtime = new PolicyRuntime({
      stores: {
        circuitBreaker: circuitBreakerStore,
        dedupe: dedupeStore,
        backpressure: backpressureStore,
      },
      policies: options.policies ?? {},
      clock,
      events: this.bus,
      logger: { warn: (message) => logger.warn(message) },
    });
  }

  /**
   * The circuit called `name`; a name nothing uses yet reads closed with 0 failures. Looking a
   * circuit up does not register it: the handle finds the circuit at each call, so one taken
   * before a decorator or stage first uses the name still sees that circuit and its options.
   */
  circuit(name: string): CircuitHandle {
    const policy = () => this.runtime.lookupCircuit(name);
    return {
      state: () => policy().state(),
      failureCount: () => policy().failureCount(),
      open: () => policy().open(),
      close: () => policy().close(),
    };
  }

  /** The circuit names this application's decorators and pipelines use. */
  circuits(): string[] {
    return this.runtime.circuitNames();
  }

  /**
   * The backpressure guard called `name` (its `name` option, policy name or `Class.method`).
   * @throws {InvalidOptionsError} when no decorator or pipeline stage of this application uses it
   */
  backpressure(name: string): BackpressureHandle {
    const guard = this.runtime.existingGuard(name);
    if (guard === undefined) {
      const known = this.runtime.guardNames().map((n) => JSON.stringify(n));
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
    const deduplicator = () => this.runtime.existingDeduplicator(name);
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
    const pipeline = new Pipeline<I>(name, this.runtime);
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
