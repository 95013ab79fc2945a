// nestjs-orchestrator/otel: OpenTelemetry metrics (optional peer @opentelemetry/api).
export {
  OrchestratorMetrics,
  OrchestratorMetricsModule,
  ORCHESTRATOR_METRICS_OPTIONS,
  type OrchestratorMetricsOptions,
} from './orchestrator-metrics.js';
export { ORCHESTRATOR_METER_NAME, ORCHESTRATOR_METRICS } from './metric-names.js';
