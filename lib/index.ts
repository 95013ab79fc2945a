// Core
export type { Clock } from './core/clock.js';
export { systemClock } from './core/clock.js';
export type {
  CircuitState,
  EventSink,
  OrchestratorEvent,
  OrchestratorEventType,
} from './core/events.js';
export type { MaybePromise } from './core/maybe-promise.js';
export { OrchestratorError, isOrchestratorError } from './core/orchestrator.error.js';
export { InvalidOptionsError, isInvalidOptionsError } from './core/invalid-options.error.js';

// Retry
export { Retry } from './retry/retry.decorator.js';
export { RetryPolicy, type RetryRuntime } from './retry/retry.policy.js';
export { retryAfterHintMs } from './retry/retry-after.js';
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
  type AdmittedCall,
  type CallOutcome,
  type CircuitAdmission,
  type CircuitConfig,
  type CircuitSnapshot,
  type CircuitTransition,
} from './circuit-breaker/circuit-breaker.store.js';
export { InMemoryCircuitBreakerStore } from './circuit-breaker/in-memory-circuit-breaker.store.js';
export { CircuitOpenError, isCircuitOpenError } from './circuit-breaker/circuit-open.error.js';
export {
  DEFAULT_CIRCUIT_BREAKER_OPTIONS,
  type CircuitBreakerOptions,
} from './circuit-breaker/circuit-breaker-options.js';

// Dedupe
export { DedupeStore } from './dedupe/dedupe.store.js';
export { InMemoryDedupeStore } from './dedupe/in-memory-dedupe.store.js';
export { Deduplicator } from './dedupe/deduplicator.js';
export type { DedupeOptions } from './dedupe/dedupe-options.js';

// Backpressure
export { BackpressureStore } from './backpressure/backpressure.store.js';
export { InMemoryBackpressureStore } from './backpressure/in-memory-backpressure.store.js';
export { BackpressureGuard } from './backpressure/backpressure.guard.js';
export type { BackpressureOptions } from './backpressure/backpressure-options.js';

// Nest
export type { PolicyOptions } from './runtime/policy-options.js';
export type { OrchestratorStores } from './runtime/policy-runtime.js';
export { OrchestratorModule } from './nest/orchestrator.module.js';
export type {
  OrchestratorModuleAsyncOptions,
  OrchestratorModuleOptions,
  OrchestratorOptionsFactory,
} from './nest/orchestrator-options.interface.js';
export { Orchestrator, type CircuitHandle } from './nest/orchestrator.service.js';
export { OrchestratorExceptionFilter } from './nest/orchestrator-exception.filter.js';
export { ORCHESTRATOR_CLOCK } from './nest/orchestrator.constants.js';
