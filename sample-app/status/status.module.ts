import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { OrchestratorHealthIndicator } from '../../lib/terminus/index.js';
import { ORCHESTRATOR_METRICS_OPTIONS, OrchestratorMetrics } from '../../lib/otel/index.js';
import { ChatModule } from '../chat/chat.module.js';
import { DashboardController } from './dashboard.controller.js';
import { GenAiMetrics } from './genai-metrics.js';
import { HealthController } from './health.controller.js';
import { OrchestratorStats } from './orchestrator-stats.js';
import { StatusController } from './status.controller.js';
import { StatusService } from './status.service.js';
import { MetricsController, Telemetry } from './telemetry.js';

/**
 * What the gateway tells about itself: `GET /orchestrator/status`, `GET /metrics`
 * (OpenTelemetry, Prometheus text), `GET /health` (terminus) and the live `GET /dashboard`.
 */
@Module({
  imports: [ChatModule, TerminusModule.forRoot({ logger: false })],
  controllers: [StatusController, MetricsController, HealthController, DashboardController],
  providers: [
    OrchestratorStats,
    StatusService,
    Telemetry,
    {
      provide: ORCHESTRATOR_METRICS_OPTIONS,
      inject: [Telemetry],
      useFactory: (telemetry: Telemetry) => telemetry.metricsOptions(),
    },
    OrchestratorMetrics,
    OrchestratorHealthIndicator,
    GenAiMetrics,
  ],
})
export class StatusModule {}
