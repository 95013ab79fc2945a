export { createGateway, type Gateway, type GatewayOptions } from './gateway.js';
export { AppModule, type AppModuleOptions } from './app.module.js';
export {
  ENV_VARS,
  gatewayPolicies,
  LLM_POLICY,
  LLM_STREAM_POLICY,
  readGatewayConfig,
  RETRIEVAL_POLICY,
  SECONDARY_POLICY,
  SECONDARY_STREAM_POLICY,
  type GatewayConfig,
} from './config/gateway.config.js';
export { ChatService } from './chat/chat.service.js';
export type { ChatAnswer, ChatRequest, StreamItem } from './chat/chat.types.js';
export { estimateTokens, usedTokens, type TokenUsage } from './chat/token-estimate.js';
export type { GatewayStatus } from './status/status.controller.js';
export type { OrchestratorCounters } from './status/orchestrator-stats.js';
