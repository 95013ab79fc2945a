import type { BackpressureOptions } from '../backpressure/backpressure-options.js';
import { resolveBackpressureOptions } from '../backpressure/backpressure-options.js';
import {
  resolveCircuitBreakerOptions,
  type CircuitBreakerOptions,
} from '../circuit-breaker/circuit-breaker-options.js';
import { InvalidOptionsError } from '../core/invalid-options.error.js';
import { checkObject } from '../core/validate.js';
import { resolveDedupeOptions, type DedupeOptions } from '../dedupe/dedupe-options.js';
import { resolveRetryOptions, type RetryOptions } from '../retry/retry-options.js';

/**
 * A named policy: the sections a decorator or a pipeline stage can refer to by name.
 *
 * @publicApi
 */
export interface PolicyOptions {
  circuitBreaker?: CircuitBreakerOptions;
  retry?: RetryOptions;
  dedupe?: DedupeOptions;
  backpressure?: BackpressureOptions;
}

const SECTIONS = ['circuitBreaker', 'retry', 'dedupe', 'backpressure'] as const;

/** Validates every section of every policy; throws the first `InvalidOptionsError`. */
export function validatePolicies(policies: Record<string, PolicyOptions> | undefined): void {
  if (policies === undefined) return;
  checkObject('OrchestratorModule options: policies', policies);
  for (const [name, policy] of Object.entries(policies)) validatePolicy(name, policy);
}

export function validatePolicy(
  name: string,
  policy: PolicyOptions,
  scope = `policy "${name}"`,
): void {
  checkObject(scope, policy);
  for (const key of Object.keys(policy)) {
    if (!(SECTIONS as readonly string[]).includes(key)) {
      throw new InvalidOptionsError(
        `${scope}: ${key}`,
        `is not a policy section; use one of ${SECTIONS.join(', ')}`,
      );
    }
  }
  if (policy.circuitBreaker) resolveCircuitBreakerOptions(policy.circuitBreaker, scope);
  if (policy.retry) resolveRetryOptions(policy.retry, scope);
  if (policy.dedupe) resolveDedupeOptions(policy.dedupe, scope);
  if (policy.backpressure) resolveBackpressureOptions(policy.backpressure, scope);
}
