import { Controller, Get } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import {
  BackpressureStore,
  CircuitBreakerStore,
  DedupeStore,
  Orchestrator,
  type CircuitState,
} from '../../lib/index.js';
import { ProviderMetrics } from '../chat/provider-metrics.js';
import { GATEWAY_CONFIG } from '../config/gateway-config.module.js';
import { LLM_POLICY, LLM_STREAM_POLICY, type GatewayConfig } from '../config/gateway.config.js';
import {
  OrchestratorStats,
  type CircuitTransitionRecord,
  type OrchestratorCounters,
} from './orchestrator-stats.js';

export interface GatewayStatus {
  /** The class behind each store, e.g. `InMemoryDedupeStore`. */
  stores: { circuitBreaker: string; dedupe: string; backpressure: string };
  /** The settings of the `llm` policy. */
  policy: Pick<GatewayConfig, 'backpressure' | 'dedupe' | 'circuitBreaker' | 'retry'>;
  provider: { baseURL: string | undefined; calls: number; failures: number; streams: number };
  circuits: Array<{ name: string; state: CircuitState; failures: number }>;
  backpressure: Array<{ name: string; depth: number; capacity: number; softDepthRatio: number }>;
  dedupe: Array<{ name: string; entries: number }>;
  counters: OrchestratorCounters;
  transitions: CircuitTransitionRecord[];
  /** The gateway's rate limiters: what is free now, and the configured limits per minute. */
  rateLimits: Array<{
    name: string;
    available: { requests?: number; tokens?: number };
    limits: GatewayConfig['rateLimit'];
  }>;
  /** Answers the secondary model gave, by why the primary failed. */
  fallbacks: ProviderMetrics['fallbacks'];
  /** Provider attempts cut short by a timeout, by phase. */
  timeouts: ProviderMetrics['timeouts'];
  /** The models `/chat` uses, and the one that stands in for it. */
  models: { primary: string; secondary: string };
}

/** The guards and dedupes the gateway's decorators use (by policy name). */
const GUARDS = [LLM_POLICY];
const DEDUPES = [LLM_POLICY, LLM_STREAM_POLICY];

@Controller('orchestrator')
export class StatusController {
  private readonly config: GatewayConfig;
  private readonly stores: GatewayStatus['stores'];

  constructor(
    private readonly orchestrator: Orchestrator,
    private readonly stats: OrchestratorStats,
    private readonly provider: ProviderMetrics,
    config: ConfigService,
    circuitBreakerStore: CircuitBreakerStore,
    dedupeStore: DedupeStore,
    backpressureStore: BackpressureStore,
  ) {
    this.stores = {
      circuitBreaker: circuitBreakerStore.constructor.name,
      dedupe: dedupeStore.constructor.name,
      backpressure: backpressureStore.constructor.name,
    };
    this.config = config.getOrThrow<GatewayConfig>(GATEWAY_CONFIG);
  }

  /**
   * Circuits, backpressure depths and capacities, dedupe entries, rate limiters, fallbacks,
   * timeouts and event counters.
   */
  @Get('status')
  async status(): Promise<GatewayStatus> {
    const circuits = await Promise.all(
      this.orchestrator.circuits().map(async (name) => {
        const circuit = this.orchestrator.circuit(name);
        return { name, state: await circuit.state(), failures: await circuit.failureCount() };
      }),
    );
    const backpressure = await Promise.all(
      GUARDS.map(async (name) => {
        const guard = this.orchestrator.backpressure(name);
        return {
          name,
          depth: await guard.depth(),
          capacity: guard.hardCapacity(),
          softDepthRatio: await guard.softDepthRatio(),
        };
      }),
    );
    const dedupe = await Promise.all(
      DEDUPES.map(async (name) => ({ name, entries: await this.orchestrator.dedupe(name).size() })),
    );
    const rateLimits = await Promise.all(
      this.orchestrator.rateLimits().map(async (name) => ({
        name,
        available: await this.orchestrator.rateLimit(name).available(),
        limits: this.config.rateLimit,
      })),
    );
    const { calls, failures, streams, fallbacks, timeouts } = this.provider;
    return {
      stores: this.stores,
      policy: {
        backpressure: this.config.backpressure,
        dedupe: this.config.dedupe,
        circuitBreaker: this.config.circuitBreaker,
        retry: this.config.retry,
      },
      provider: { baseURL: this.config.llm.baseURL, calls, failures, streams },
      circuits,
      backpressure,
      dedupe,
      counters: this.stats.counters,
      transitions: this.stats.transitions,
      rateLimits,
      fallbacks,
      timeouts,
      models: { primary: this.config.llm.model, secondary: this.config.llm.secondaryModel },
    };
  }
}
