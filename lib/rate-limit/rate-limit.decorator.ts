import { policyDecorator } from '../core/policy-decorator.js';
import { rateLimitKind } from './rate-limit.kind.js';
import type { RateLimitOptions } from './rate-limit-options.js';

/**
 * Requests and/or tokens per interval, shared by name (fleet-wide on Redis). A call reserves
 * 1 request and `tokens.estimate(...args)` tokens before it runs, waits up to `maxWaitMs` in
 * arrival order, else is refused with `RateLimitedError`; when it settles it is charged
 * `tokens.actual(result)`. A provider's 429 with a reset hint pauses every caller.
 *
 * @publicApi
 * @example
 * \@RateLimit({
 *   requests: { limit: 500, intervalMs: 60_000 },
 *   tokens: { limit: 200_000, intervalMs: 60_000, estimate: (p: string) => p.length / 4 + 512,
 *             actual: (r: Completion) => r.usage?.total_tokens },
 *   maxWaitMs: 5_000,
 * })
 * async complete(prompt: string): Promise<Completion> { ... }
 */
export function RateLimit<A extends unknown[] = any[], R = any>(
  ref: string | RateLimitOptions<A, R>,
): MethodDecorator {
  return policyDecorator(rateLimitKind, ref as string | RateLimitOptions);
}
