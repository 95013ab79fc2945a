import { policyDecorator } from '../core/policy-decorator.js';
import { dedupeKind } from './dedupe.kind.js';
import type { DedupeOptions } from './dedupe-options.js';

/**
 * What the compiler reports when `key` cannot take the decorated method's arguments: the
 * decorator's return type then names the arguments it expected.
 */
export interface DedupeKeyDoesNotAcceptMethodArguments<P> {
  readonly methodArguments: P;
}

type KeyFits<A extends unknown[], M> = M extends (...args: infer P) => unknown
  ? ((...args: A) => string) extends (...args: P) => string
    ? void
    : DedupeKeyDoesNotAcceptMethodArguments<P>
  : void;

/**
 * `@Dedupe`'s type: a method decorator that also checks `key` against the method's arguments
 * (a key may take fewer arguments than the method, not other ones).
 *
 * @publicApi
 */
export type DedupeDecorator<A extends unknown[]> = (<M>(
  target: object,
  propertyKey: string | symbol,
  descriptor: TypedPropertyDescriptor<M>,
) => KeyFits<A, M>) &
  MethodDecorator;

/**
 * Single flight with an optional TTL cache: concurrent calls with equal keys share one
 * execution (streams included, replayed to every caller), a completed result is served from the
 * cache for `ttlMs`, and a failure is never cached. `ref` names a policy from
 * `forRoot({ policies })` or gives inline options; absent, the defaults apply (in-flight only,
 * key from the arguments).
 *
 * @publicApi
 * @example
 * \@Dedupe({ ttlMs: 60_000, key: (prompt: string, model: string) => `${model}:${prompt}` })
 * async complete(prompt: string, model: string): Promise<string> { ... }
 */
export function Dedupe<A extends unknown[] = any[]>(
  ref?: string | DedupeOptions<A>,
): DedupeDecorator<A> {
  return policyDecorator(dedupeKind, ref) as DedupeDecorator<A>;
}
