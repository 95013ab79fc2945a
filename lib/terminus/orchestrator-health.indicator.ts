import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import type { CircuitState } from '../core/events.js';
import { Orchestrator } from '../nest/orchestrator.service.js';

/**
 * Something that knows whether the shared stores are in degraded mode: the Redis stores'
 * backend (`redisStores(...).backend`) is one.
 *
 * @publicApi
 */
export interface DegradedSource {
  readonly degraded: boolean;
}

/**
 * What `OrchestratorHealthIndicator.isHealthy` checks.
 *
 * @publicApi
 */
export interface OrchestratorHealthOptions {
  /** The circuits that make the application unhealthy while open. @default every circuit in use */
  circuits?: readonly string[];
  /** The shared stores, down while degraded (e.g. `redisStores(...).backend`). */
  redis?: DegradedSource;
}

/**
 * A `@nestjs/terminus` health indicator: down while one of the chosen circuits is open or the
 * Redis stores are degraded; the details name each circuit's state and the stores' mode. A
 * half-open circuit counts as up: it is probing its way back.
 *
 * @publicApi
 * @example
 * \@Get('health')
 * \@HealthCheck()
 * check() {
 *   return this.health.check([() => this.orchestrator.isHealthy('orchestrator', { circuits: ['llm'] })]);
 * }
 */
@Injectable()
export class OrchestratorHealthIndicator {
  constructor(
    private readonly orchestrator: Orchestrator,
    private readonly indicators: HealthIndicatorService,
  ) {}

  async isHealthy(
    key = 'orchestrator',
    options: OrchestratorHealthOptions = {},
  ): Promise<HealthIndicatorResult> {
    const names = options.circuits ?? this.orchestrator.circuits();
    const circuits: Record<string, CircuitState> = {};
    await Promise.all(
      names.map(async (name) => {
        circuits[name] = await this.orchestrator.circuit(name).state();
      }),
    );
    const open = names.filter((name) => circuits[name] === 'open');
    const degraded = options.redis?.degraded === true;
    const details: Record<string, unknown> = { circuits };
    if (options.redis !== undefined) details.redis = degraded ? 'degraded' : 'available';
    const session = this.indicators.check(key);
    if (open.length === 0 && !degraded) return session.up(details);
    const reasons = [
      ...open.map((name) => `circuit "${name}" is open`),
      ...(degraded ? ['the Redis stores are degraded'] : []),
    ];
    return session.down({ ...details, message: reasons.join('; ') });
  }
}
