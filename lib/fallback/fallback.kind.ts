import type { PolicyKind } from '../core/policy-kind.js';
import { check, fieldPath } from '../core/validate.js';
import { functionFallback, methodFallback } from './fallback-handler.js';
import { FallbackLayer } from './fallback.layer.js';
import { resolveFallbackOptions, type FallbackOptions } from './fallback-options.js';

/** What `@Fallback(handler, options)` records: the handler (a method name or a function). */
export interface FallbackSpec extends FallbackOptions {
  handler: string | ((error: unknown, ...args: any[]) => unknown);
}

/**
 * A fallback is per method (its handler reads that method's arguments), so it is a decorator
 * kind with no policy section and no shared state.
 */
export const fallbackKind = {
  section: 'fallback',
  decorator: '@Fallback',
  namedState: 'method',
  optionKeys: ['handler', 'on'],
  resolve: (spec, scope) => {
    const { handler, ...options } = spec!;
    const ok = typeof handler === 'function' || (typeof handler === 'string' && handler !== '');
    check(ok, fieldPath(scope, 'fallback.handler'), 'a method name or a function', handler);
    return resolveFallbackOptions(options, scope);
  },
  createLayer: ({ options, owner }) => {
    const { handler, on } = options;
    const run = typeof handler === 'string' ? methodFallback(handler) : functionFallback(handler);
    return new FallbackLayer(run, { on }, owner);
  },
} satisfies PolicyKind<'fallback', FallbackSpec>;
