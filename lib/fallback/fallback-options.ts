import { InvalidOptionsError } from '../core/invalid-options.error.js';
import { check, checkFunction, fieldPath } from '../core/validate.js';

/**
 * Options of `@Fallback`.
 *
 * @publicApi
 */
export interface FallbackOptions {
  /** Which failures fall back; the others reach the caller unchanged. @default every error */
  on?: (error: unknown) => boolean;
}

export interface ResolvedFallbackOptions {
  readonly on: (error: unknown) => boolean;
}

const everyError = (): boolean => true;

/** Validates fallback options; `scope` prefixes the error path, e.g. `ChatService.answer`. */
export function resolveFallbackOptions(
  options: FallbackOptions = {},
  scope = '',
): ResolvedFallbackOptions {
  const at = (field: string) => fieldPath(scope, field ? `fallback.${field}` : 'fallback');
  check(typeof options === 'object' && options !== null, at(''), 'an object', options);
  for (const key of Object.keys(options)) {
    if (key !== 'on')
      throw new InvalidOptionsError(at(key), 'is not a fallback option (known: on)');
  }
  if (options.on === undefined) return { on: everyError };
  checkFunction(at('on'), options.on);
  return { on: options.on };
}
