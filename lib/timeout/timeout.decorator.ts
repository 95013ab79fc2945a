import { policyDecorator } from '../core/policy-decorator.js';
import { timeoutKind } from './timeout.kind.js';
import type { TimeoutOptions } from './timeout-options.js';

/**
 * Bounds one attempt: written below `@Retry` (the recommended order) each attempt gets the
 * full `ms`. At the timeout the attempt's signal (`@Signal()`) aborts, the caller gets a
 * `TimeoutError` at once, and whatever the layers above held (a slot, a dedupe claim, a probe)
 * is released; a late result is dropped. For streams, `ms` bounds the whole stream,
 * `firstItemMs` the wait for the first item and `idleMs` the gap between two items. `ref` is
 * a policy name, a number of ms, or options.
 *
 * @publicApi
 * @example
 * \@Retry({ maxAttempts: 3 })
 * \@Timeout({ ms: 60_000, firstItemMs: 5_000, idleMs: 10_000 })
 * async *stream(prompt: string, @Signal() signal?: AbortSignal): AsyncIterable<string> { ... }
 */
export function Timeout(ref: string | number | TimeoutOptions): MethodDecorator {
  return policyDecorator(timeoutKind, ref);
}
