/**
 * How a `FallbackLayer` produces the replacement of a failed call: given the instance, the
 * error and the call's arguments, it returns a value, a Promise, an Observable or an
 * AsyncIterable (as the method's kind). Both forms of `@Fallback(handler)` reduce to it:
 * see `functionFallback` and `methodFallback`.
 */
export type FallbackHandler = (self: unknown, error: unknown, args: readonly unknown[]) => unknown;

/**
 * `@Fallback((error, ...args) => ...)`: the error first, then the arguments; `this` is the
 * instance, for a `function` handler.
 */
export function functionFallback(
  handler: (this: unknown, error: unknown, ...args: any[]) => unknown,
): FallbackHandler {
  return (self, error, args) => handler.call(self, error, ...args);
}

/**
 * `@Fallback('methodName')`: another method of the same instance, with the same arguments
 * plus the error last. Whether the method exists is checked at bootstrap, not here.
 */
export function methodFallback(name: string | symbol): FallbackHandler {
  return (self, error, args) =>
    (self as Record<string | symbol, (...a: unknown[]) => unknown>)[name](...args, error);
}
