import { InvalidOptionsError } from '../core/invalid-options.error.js';
import {
  check,
  checkDuration,
  checkFunction,
  checkInteger,
  checkKnownKeys,
  checkObject,
  checkString,
  definedOnly,
  fieldPath,
} from '../core/validate.js';

/**
 * A limit per interval, e.g. 500 requests per 60_000 ms.
 *
 * @publicApi
 */
export interface RateLimitBucket {
  /** Units allowed per interval; a finite integer >= 1. */
  limit: number;
  /** The interval, in ms; a finite integer >= 1. */
  intervalMs: number;
}

/**
 * The token limit: a call reserves `estimate(...args)` tokens before it runs and is charged
 * `actual(result)` once it settles.
 *
 * @publicApi
 */
export interface RateLimitTokens<A extends unknown[] = any[], R = any> extends RateLimitBucket {
  /** Tokens reserved before the call (prompt plus expected output); a finite number >= 0. */
  estimate: (...args: A) => number;
  /**
   * Tokens the call really used, from its result (`usage.total_tokens`); for a stream, from its
   * last item. `undefined` keeps the estimate.
   */
  actual?: (result: R) => number | undefined;
}

/**
 * Options of `@RateLimit` and of a policy's `rateLimit` section.
 *
 * @publicApi
 */
export interface RateLimitOptions<A extends unknown[] = any[], R = any> {
  /** The limiter's name: methods (and processes, through a shared store) with one name share it. */
  name?: string;
  requests?: RateLimitBucket;
  tokens?: RateLimitTokens<A, R>;
  /** How long a call may wait (in arrival order) for capacity before it is refused, in ms. @default 0 */
  maxWaitMs?: number;
  /** A provider 429 with a reset hint pauses the limiter for every caller until the reset. @default true */
  cooldownFromErrors?: boolean;
}

export interface ResolvedRateLimitOptions extends RateLimitOptions {
  maxWaitMs: number;
  cooldownFromErrors: boolean;
}

export const RATE_LIMIT_OPTION_KEYS = [
  'name',
  'requests',
  'tokens',
  'maxWaitMs',
  'cooldownFromErrors',
] as const;

/** Merges defaults and validates; `scope` prefixes the error path, e.g. `policy "openai"`. */
export function resolveRateLimitOptions(
  options: RateLimitOptions,
  scope = '',
): ResolvedRateLimitOptions {
  const at = (field: string) => fieldPath(scope, `rateLimit${field ? `.${field}` : ''}`);
  checkObject(at(''), options);
  const resolved = { maxWaitMs: 0, cooldownFromErrors: true, ...definedOnly(options) };
  if (resolved.name !== undefined) checkString(at('name'), resolved.name);
  if (resolved.requests === undefined && resolved.tokens === undefined) {
    throw new InvalidOptionsError(at(''), 'needs `requests`, `tokens` or both');
  }
  if (resolved.requests !== undefined) checkBucket(at('requests'), resolved.requests, []);
  if (resolved.tokens !== undefined) checkTokens(at('tokens'), resolved.tokens);
  checkDuration(at('maxWaitMs'), resolved.maxWaitMs, 0);
  const cooldown = resolved.cooldownFromErrors;
  check(typeof cooldown === 'boolean', at('cooldownFromErrors'), 'a boolean', cooldown);
  return resolved;
}

function checkBucket(path: string, bucket: RateLimitBucket, extraKeys: readonly string[]): void {
  checkObject(path, bucket);
  checkKnownKeys(path, bucket, ['limit', 'intervalMs', ...extraKeys]);
  checkInteger(`${path}.limit`, bucket.limit, 1);
  checkInteger(`${path}.intervalMs`, bucket.intervalMs, 1);
  checkDuration(`${path}.intervalMs`, bucket.intervalMs, 1);
}

function checkTokens(path: string, tokens: RateLimitTokens): void {
  checkBucket(path, tokens, ['estimate', 'actual']);
  if (tokens.estimate === undefined) {
    throw new InvalidOptionsError(
      `${path}.estimate`,
      'is required: a function of the method arguments that says how many tokens to reserve',
    );
  }
  checkFunction(`${path}.estimate`, tokens.estimate);
  if (tokens.actual !== undefined) checkFunction(`${path}.actual`, tokens.actual);
}
