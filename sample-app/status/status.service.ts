import { Injectable } from '@nestjs/common';
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
  type CallCounts,
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
  counters: OrchestratorCounters;
  /** Calls of the protected methods, by outcome (from `call.finished`). */
  calls: CallCounts;
  transitions: CircuitTransitionRecord[];
}

/** The guards and dedupes the gateway's decorators use (by policy name). */
const GUARDS = [LLM_POLICY];
const DEDUPES = [LLM_POLICY, LLM_STREAM_POLICY];

/** Reads the gateway's policies: the status JSON and the dashboard's snapshots. */
@Injectable()
export class StatusService {
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

  async snapshot(): Promise<GatewayStatus> {
    const [circuits, backpressure, dedupe, rateLimits] = await Promise.all([
      this.circuits(),
      this.guards(),
      this.dedupes(),
      this.rateLimits(),
    ]);
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
      rateLimits,
      counters: this.stats.counters,
      calls: this.stats.calls,
      transitions: this.stats.transitions,
      fallbacks,
      timeouts,
      models: { primary: this.config.llm.model, secondary: this.config.llm.secondaryModel },
    };
  }

  private circuits(): Promise<GatewayStatus['circuits']> {
    return Promise.all(
      this.orchestrator.circuits().map(async (name) => {
        const circuit = this.orchestrator.circuit(name);
        return { name, state: await circuit.state(), failures: await circuit.failureCount() };
      }),
    );
  }

  private guards(): Promise<GatewayStatus['backpressure']> {
    return Promise.all(
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
  }

  private dedupes(): Promise<GatewayStatus['dedupe']> {
    return Promise.all(
      DEDUPES.map(async (name) => ({ name, entries: await this.orchestrator.dedupe(name).size() })),
    );
  }

  private rateLimits(): Promise<GatewayStatus['rateLimits']> {
    return Promise.all(
      this.orchestrator.rateLimits().map(async (name) => ({
        name,
        available: await this.orchestrator.rateLimit(name).available(),
        limits: this.config.rateLimit,
      })),
    );
  }
}
