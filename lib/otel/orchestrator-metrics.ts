import {
  Inject,
  Injectable,
  Module,
  Optional,
  type DynamicModule,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { metrics, type MeterProvider } from '@opentelemetry/api';
import type { Subscription } from 'rxjs';
import type { EventBus } from '../core/events.js';
import { PolicyEngine } from '../core/policy-engine.js';
import { ORCHESTRATOR_EVENTS } from '../nest/orchestrator.constants.js';
import { EventRecorder } from './event-recorder.js';
import { OrchestratorGauges } from './gauges.js';
import { ORCHESTRATOR_METER_NAME } from './metric-names.js';

/**
 * Options of `OrchestratorMetricsModule.forRoot()`.
 *
 * @publicApi
 */
export interface OrchestratorMetricsOptions {
  /** Where the meter comes from. @default the global provider of `@opentelemetry/api` */
  meterProvider?: MeterProvider;
  /**
   * Time every decorated method call (`orchestrator.calls`, `orchestrator.call.duration`).
   * Adds one layer to each chain, compiled in at start-up. @default true
   */
  calls?: boolean;
}

/** Injection token of the metrics options. */
export const ORCHESTRATOR_METRICS_OPTIONS = Symbol('ORCHESTRATOR_METRICS_OPTIONS');

/**
 * Records the application's policies as OpenTelemetry metrics (meter `nestjs-orchestrator`):
 * counters and histograms from `events$`, gauges read at each collection. Without an SDK the
 * API's meter is a no-op. Nothing of this runs in an application that does not register it.
 *
 * @publicApi
 */
@Injectable()
export class OrchestratorMetrics implements OnApplicationShutdown {
  private readonly subscription: Subscription;
  private readonly gauges: OrchestratorGauges;

  constructor(
    @Inject(ORCHESTRATOR_EVENTS) bus: EventBus,
    engine: PolicyEngine,
    @Optional() @Inject(ORCHESTRATOR_METRICS_OPTIONS) options: OrchestratorMetricsOptions | null,
  ) {
    const provider = options?.meterProvider ?? metrics.getMeterProvider();
    const meter = provider.getMeter(ORCHESTRATOR_METER_NAME);
    // Before the explorer compiles the chains (providers are built before any init hook).
    if (options?.calls !== false) bus.observeCalls();
    const recorder = new EventRecorder(meter);
    this.gauges = new OrchestratorGauges(meter, engine, recorder.circuitStates);
    this.subscription = bus.events$.subscribe((event) => recorder.record(event));
  }

  onApplicationShutdown(): void {
    this.subscription.unsubscribe();
    this.gauges.close();
  }
}

/**
 * Turns the library's metrics on: import it next to `OrchestratorModule`.
 *
 * @publicApi
 * @example
 * \@Module({ imports: [OrchestratorModule.forRoot({ policies }), OrchestratorMetricsModule.forRoot()] })
 * export class AppModule {}
 */
@Module({})
export class OrchestratorMetricsModule {
  static forRoot(options: OrchestratorMetricsOptions = {}): DynamicModule {
    return {
      module: OrchestratorMetricsModule,
      providers: [
        { provide: ORCHESTRATOR_METRICS_OPTIONS, useValue: options },
        OrchestratorMetrics,
      ],
      exports: [OrchestratorMetrics],
    };
  }
}
