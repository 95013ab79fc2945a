import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { BackpressureStore } from '../backpressure/backpressure.store.js';
import { CircuitBreakerStore } from '../circuit-breaker/circuit-breaker.store.js';
import type { Clock } from '../core/clock.js';
import { EventBus, type CircuitState, type OrchestratorEvent } from '../core/events.js';
import { DedupeStore } from '../dedupe/dedupe.store.js';
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
      stores: { circuitBreaker: circuitBreakerStore, dedupe: dedupeStore, backpressure: backpressureStore },
      policies: options.policies ?? {},
      clock,
      events: this.bus,
      logger: { warn: (message) => logger.warn(message) },
    });
  }

  /** The circuit called `name`; a name nothing uses yet reads closed with 0 failures. */
  circuit(name: string): CircuitHandle {
    const policy = this.runtime.circuit(name);
    return {
      state: () => policy.state(),
      failureCount: () => policy.failureCount(),
      open: () => policy.open(),
      close: () => policy.close(),
    };
  }

  /** The circuit names this application's decorators and pipelines use. */
  circuits(): string[] {
    return this.runtime.circuitNames();
  }

  onApplicationShutdown(): void {
    this.bus.complete();
  }
}
