import { policyDecorator } from '../core/policy-decorator.js';
import { backpressureKind } from './backpressure.kind.js';
import type { BackpressureOptions } from './backpressure-options.js';

/**
 * Caps the calls in flight: at most `capacity` at once per name; past it a call is shed with
 * `BackpressureShedError` (429 through `OrchestratorExceptionFilter`), or waits up to
 * `maxWaitMs` in arrival order. A stream holds its slot until it completes, errors or is
 * abandoned. `ref` names a policy from `forRoot({ policies })` or gives inline options.
 *
 * Written above `@Dedupe`, a call answered by a running execution or the cache takes no slot.
 *
 * @publicApi
 * @example
 * \@Backpressure({ capacity: 8, softLimit: 6, maxWaitMs: 2_000 })
 * async complete(prompt: string): Promise<string> { ... }
 */
export function Backpressure(ref: string | BackpressureOptions): MethodDecorator {
  return policyDecorator(backpressureKind, ref);
}
