import { policyDecorator } from '../runtime/policy-decorator.js';
import {
  resolveCircuitBreakerOptions,
  type CircuitBreakerOptions,
} from './circuit-breaker-options.js';

/**
 * Fails fast with `CircuitOpenError` while the downstream is unhealthy: opens after `threshold`
 * consecutive failures, probes after `recoveryWindowMs`. State is shared by `name` (or by the
 * policy name), otherwise kept per `Class.method`.
 *
 * @publicApi
 * @example
 * \@CircuitBreaker({ threshold: 3, recoveryWindowMs: 10_000 })
 * async complete(prompt: string): Promise<string> { ... }
 */
export function CircuitBreaker(ref?: string | CircuitBreakerOptions): MethodDecorator {
  return policyDecorator('circuitBreaker', ref, resolveCircuitBreakerOptions);
}
