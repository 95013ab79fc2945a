import { policyDecorator } from '../core/policy-decorator.js';
import { retryKind } from './retry.kind.js';
import type { RetryOptions } from './retry-options.js';

/**
 * Retries the method with exponential backoff and jitter. `ref` names a policy from
 * `forRoot({ policies })` or gives inline options; absent, the defaults apply.
 *
 * Written below `@CircuitBreaker`, the breaker sees one outcome per call, after the retries;
 * written above it, every attempt goes through the breaker. A rejection by the breaker or by
 * backpressure is not retried.
 *
 * @publicApi
 * @example
 * \@Retry({ maxAttempts: 4, baseDelayMs: 200 })
 * async complete(prompt: string): Promise<string> { ... }
 */
export function Retry(ref?: string | RetryOptions): MethodDecorator {
  return policyDecorator(retryKind, ref);
}
