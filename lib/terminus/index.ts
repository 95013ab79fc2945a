// nestjs-orchestrator/terminus: a health indicator (optional peer @nestjs/terminus).
export {
  OrchestratorHealthIndicator,
  type DegradedSource,
  type OrchestratorHealthOptions,
} from './orchestrator-health.indicator.js';
