// Core
export type { Clock } from './core/clock.js';
export { systemClock } from './core/clock.js';
export type {
  CallOutcomeKind,
  CircuitState,
  EventSink,
  OrchestratorEvent,
  OrchestratorEventType,
} from './core/events.js';
export {
  channelName,
  DIAGNOSTICS_CHANNEL_PREFIX,
  ORCHESTRATOR_EVENT_TYPES,
} from './core/diagnostics.js';
export type { MaybePromise } from './core/maybe-promise.js';
export { OrchestratorError, isOrchestratorError } from './core/orchestrator.error.js';
export { InvalidOptionsError, isInvalidOptionsError } from './core/invalid-options.error.js';

// Retry
export { Retry } from './retry/retry.decorator.js';
export { RetryPolicy, type RetryRuntime } from './retry/retry.policy.js';
export { RetryBudget, type RetryBudgetOptions } from './retry/retry-budget.js';
export { retryAfterHintMs } from './core/retry-after.js';
export { isRetryableLlmError } from './retry/llm-retry.js';
export {
  DEFAULT_RETRY_OPTIONS,
  retryUnlessOrchestratorError,
  type Jitter,
  type RetryOptions,
} from './retry/retry-options.js';

// Circuit breaker
export { CircuitBreaker } from './circuit-breaker/circuit-breaker.decorator.js';
export {
  CircuitBreakerPolicy,
  type CircuitBreakerRuntime,
} from './circuit-breaker/circuit-breaker.policy.js';
export {
  CircuitBreakerStore,
  type AdmitRequest,
  type AdmittedCall,
  type CallOutcome,
  type CircuitAdmission,
  type CircuitConfig,
  type CircuitRequest,
  type CircuitSnapshot,
  type CircuitTransition,
  type CircuitOpenReason,
  type ForceRequest,
  type RecordRequest,
  type SnapshotRequest,
  type TransitionListener,
} from './circuit-breaker/circuit-breaker.store.js';
export { InMemoryCircuitBreakerStore } from './circuit-breaker/in-memory-circuit-breaker.store.js';
export { CircuitOpenError, isCircuitOpenError } from './circuit-breaker/circuit-open.error.js';
export {
  DEFAULT_CIRCUIT_BREAKER_OPTIONS,
  type CircuitBreakerOptions,
} from './circuit-breaker/circuit-breaker-options.js';

// Dedupe
export {
  Dedupe,
  type DedupeDecorator,
  type DedupeKeyDoesNotAcceptMethodArguments,
} from './dedupe/dedupe.decorator.js';
export {
  DedupeStore,
  type DedupeClaim,
  type DedupeClaimRequest,
  type DedupeCompleteRequest,
  type DedupeConfig,
  type DedupeEntry,
  type DedupeFailRequest,
  type DedupeNamespace,
  type DedupeRenewRequest,
  type DedupeSettlement,
} from './dedupe/dedupe.store.js';
export { InMemoryDedupeStore } from './dedupe/in-memory-dedupe.store.js';
export {
  Deduplicator,
  type DeduplicationResult,
  type DedupeRuntime,
} from './dedupe/deduplicator.js';
export { defaultDedupeKey } from './dedupe/dedupe-key.js';
export { RecordedStream } from './dedupe/shared-stream.js';
export type { DedupeHandle } from './nest/orchestrator.service.js';
export {
  DEDUPE_STREAM_CACHE_LIMIT,
  DEFAULT_DEDUPE_OPTIONS,
  type DedupeOptions,
} from './dedupe/dedupe-options.js';

// Backpressure
export { Backpressure } from './backpressure/backpressure.decorator.js';
export {
  BackpressureStore,
  type BackpressureAcquireRequest,
  type BackpressureAcquisition,
  type BackpressureConfig,
  type BackpressureHandOverRequest,
  type BackpressureNameRequest,
  type BackpressureRenewRequest,
  type BackpressureSlotRequest,
  type BackpressureWatchRequest,
} from './backpressure/backpressure.store.js';
export { InMemoryBackpressureStore } from './backpressure/in-memory-backpressure.store.js';
export {
  BackpressureGuard,
  SOFT_LIMIT_WARNING_INTERVAL_MS,
  type BackpressurePermit,
  type BackpressureRuntime,
} from './backpressure/backpressure.policy.js';
export {
  BackpressureShedError,
  isBackpressureShedError,
} from './backpressure/backpressure-shed.error.js';
export type { BackpressureHandle } from './nest/orchestrator.service.js';
export {
  DEFAULT_BACKPRESSURE_OPTIONS,
  type BackpressureOptions,
} from './backpressure/backpressure-options.js';

// Rate limit
export { RateLimit } from './rate-limit/rate-limit.decorator.js';
export {
  RateLimiter,
  type RateLimiterDependencies,
  type RateLimitTicket,
} from './rate-limit/rate-limiter.js';
export {
  RateLimitStore,
  type RateLimitAdjustment,
  type RateLimitConfig,
  type RateLimitCooldown,
  type RateLimitDecision,
  type RateLimitQuery,
  type RateLimitReservation,
  type RateLimitUnits,
  type RetryBudgetDeposit,
  type RetryBudgetWithdrawal,
} from './rate-limit/rate-limit.store.js';
export { InMemoryRateLimitStore } from './rate-limit/in-memory-rate-limit.store.js';
export { RateLimitedError, isRateLimitedError } from './rate-limit/rate-limited.error.js';
export type {
  RateLimitBucket,
  RateLimitOptions,
  RateLimitTokens,
} from './rate-limit/rate-limit-options.js';
export { rateLimitResetHintMs, parseResetDuration } from './core/retry-after.js';

// Timeout and fallback
export { Timeout } from './timeout/timeout.decorator.js';
export { TimeoutError, isTimeoutError, type TimeoutPhase } from './timeout/timeout.error.js';
export type { TimeoutOptions } from './timeout/timeout-options.js';
export { Fallback } from './fallback/fallback.decorator.js';
export type { FallbackOptions } from './fallback/fallback-options.js';
export {
  StreamInterruptedError,
  isStreamInterruptedError,
} from './fallback/stream-interrupted.error.js';

// Nest
export type { PolicyOptions, OrchestratorStores } from './kinds/policy-kinds.js';
export { Signal } from './core/signal.decorator.js';
export { OrchestratorModule } from './nest/orchestrator.module.js';
export type {
  OrchestratorModuleAsyncOptions,
  OrchestratorModuleOptions,
  OrchestratorOptionsFactory,
} from './nest/orchestrator-options.interface.js';
export {
  Orchestrator,
  type CircuitHandle,
  type RateLimitHandle,
} from './nest/orchestrator.service.js';
export { OrchestratorExceptionFilter } from './nest/orchestrator-exception.filter.js';
export { toHttpException, type OrchestratorErrorBody } from './nest/error-mapping.js';
export {
  GAVE_UP_LOG_INTERVAL_MS,
  OrchestratorEventLogger,
} from './nest/orchestrator-event-logger.js';
export { ORCHESTRATOR_CLOCK } from './nest/orchestrator.constants.js';

// Pipeline
export { Pipeline } from './pipeline/pipeline.js';
export { PipelineStageError, isPipelineStageError } from './pipeline/pipeline-stage.error.js';
export { PipelineAbortedError, isPipelineAbortedError } from './pipeline/pipeline-aborted.error.js';
export type {
  PipelineErrorHandler,
  PipelineRunOptions,
  StageContext,
  StageFn,
  StageOptions,
  StageTiming,
  TimedPipelineResult,
} from './pipeline/pipeline.types.js';
