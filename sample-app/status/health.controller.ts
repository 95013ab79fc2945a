import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService, type HealthCheckResult } from '@nestjs/terminus';
import { CircuitBreakerStore } from '../../lib/index.js';
import { OrchestratorHealthIndicator, type DegradedSource } from '../../lib/terminus/index.js';
import { LLM_POLICY } from '../config/gateway.config.js';

/** The Redis stores carry their backend, which knows whether it is degraded. */
function degradedSourceOf(store: CircuitBreakerStore): DegradedSource | undefined {
  const backend = (store as { backend?: unknown }).backend;
  return typeof backend === 'object' && backend !== null && 'degraded' in backend
    ? (backend as DegradedSource)
    : undefined;
}

@Controller()
export class HealthController {
  private readonly redis: DegradedSource | undefined;

  constructor(
    private readonly health: HealthCheckService,
    private readonly orchestrator: OrchestratorHealthIndicator,
    circuitBreakerStore: CircuitBreakerStore,
  ) {
    this.redis = degradedSourceOf(circuitBreakerStore);
  }

  /** 200 while healthy; 503 while the `llm` circuit is open or the Redis stores are degraded. */
  @Get('health')
  @HealthCheck()
  check(): Promise<HealthCheckResult> {
    return this.health.check([
      () =>
        this.orchestrator.isHealthy('orchestrator', { circuits: [LLM_POLICY], redis: this.redis }),
    ]);
  }
}
