import { InvalidOptionsError } from '../core/invalid-options.error.js';
import { policyDecorator } from '../core/policy-decorator.js';
import { classNameOf } from '../core/protected-method.js';
import { fallbackKind } from './fallback.kind.js';
import type { FallbackOptions } from './fallback-options.js';

/**
 * Answers a failure with a second source: another method of the same class (by name, called
 * with the same arguments plus the error last) or a function `(error, ...args)`. Its result
 * (value, Promise, Observable or AsyncIterable, as the method's kind) replaces the failure.
 * Skipped when the caller itself aborted. A stream that fails after its first item hands the
 * handler a `StreamInterruptedError` (`itemsDelivered`), and the stream the handler returns
 * continues it: the caller reads one uninterrupted stream. Write it outermost.
 *
 * @publicApi
 * @example
 * \@Fallback('completeWithSecondModel')
 * \@CircuitBreaker('primary')
 * async complete(prompt: string): Promise<string> { ... }
 */
export function Fallback<A extends unknown[] = any[]>(
  handler: string | ((error: unknown, ...args: A) => unknown),
  options: FallbackOptions = {},
): MethodDecorator {
  const decorate = policyDecorator(fallbackKind, { ...options, handler });
  return (target, key, descriptor) => {
    if (typeof handler === 'string') checkFallbackMethod(target, key, handler);
    return decorate(target, key, descriptor);
  };
}

/** A misspelt name fails when the class is defined, not at the first failure in production. */
function checkFallbackMethod(target: object, key: string | symbol, name: string): void {
  const where = `@Fallback("${name}") on ${classNameOf(target)}.${String(key)}`;
  if (name === key) {
    throw new InvalidOptionsError(where, 'names the method itself; name another method');
  }
  const candidate = (target as Record<string, unknown>)[name];
  if (typeof candidate !== 'function') {
    const methods = Object.getOwnPropertyNames(target).filter(
      (n) => n !== 'constructor' && typeof (target as Record<string, unknown>)[n] === 'function',
    );
    throw new InvalidOptionsError(
      where,
      `names no method of the class (methods: ${methods.join(', ')})`,
    );
  }
}
