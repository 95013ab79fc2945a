import { policyDecorator } from '../core/policy-decorator.js';
import { circuitBreakerKind } from './circuit-breaker.kind.js';
import type { CircuitBreakerOptions } from './circuit-breaker-options.js';

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
  return policyDecorator(circuitBreakerKind, ref);
}
