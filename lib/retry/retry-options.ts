import {
  check,
  checkFunction,
  checkInteger,
  checkDuration,
  checkOneOf,
  definedOnly,
  fieldPath,
} from '../core/validate.js';
import { isOrchestratorRefusal } from '../core/orchestrator.error.js';
import { resolveRetryBudget, type RetryBudgetOptions } from './retry-budget.js';

export type Jitter = 'none' | 'full' | 'equal' | 'decorrelated';

/**
 * Options of `@Retry` and of a policy's `retry` section.
 *
 * @publicApi
 */
export interface RetryOptions {
  /** Attempts including the first; an integer >= 1. @default 3 */
  maxAttempts?: number;
  /** Delay before the first retry, in ms; >= 1. @default 100 */
  baseDelayMs?: number;
  /** Cap of any delay, in ms; >= baseDelayMs. @default 60_000 */
  maxDelayMs?: number;
  /** How the computed delay is randomised. @default 'full' */
  jitter?: Jitter;
  /**
   * Which failures are retried; `attempt` is the attempt that just failed (1 = the first).
   * @default every error except this library's own rejections (open circuit, shed call, ...)
   */
  retryOn?: (error: unknown, attempt: number) => boolean;
  /** Wait as long as the error's Retry-After hint says, capped at maxDelayMs. @default true */
  honorRetryAfter?: boolean;
  /** Retries at most this share of calls (plus a minimum per second), over a sliding 10 s. */
  budget?: RetryBudgetOptions;
}

export type ResolvedRetryOptions = Required<Omit<RetryOptions, 'budget'>> & {
  budget?: RetryBudgetOptions;
};

export const JITTER_MODES: readonly Jitter[] = ['none', 'full', 'equal', 'decorrelated'];

/** Retries everything except the library's own refusals, which a retry cannot fix. */
export function retryUnlessOrchestratorError(error: unknown): boolean {
  return !isOrchestratorRefusal(error);
}

export const DEFAULT_RETRY_OPTIONS: ResolvedRetryOptions = {
  maxAttempts: 3,
  baseDelayMs: 100,
  maxDelayMs: 60_000,
  jitter: 'full',
  retryOn: retryUnlessOrchestratorError,
  honorRetryAfter: true,
};

/** Merges defaults and validates; `scope` prefixes the error path, e.g. `policy "openai"`. */
export function resolveRetryOptions(options: RetryOptions = {}, scope = ''): ResolvedRetryOptions {
  const resolved = { ...DEFAULT_RETRY_OPTIONS, ...definedOnly(options) };
  const at = (field: string) => fieldPath(scope, `retry.${field}`);
  checkInteger(at('maxAttempts'), resolved.maxAttempts, 1);
  checkDuration(at('baseDelayMs'), resolved.baseDelayMs, 1);
  checkDuration(at('maxDelayMs'), resolved.maxDelayMs, 1);
  check(
    resolved.maxDelayMs >= resolved.baseDelayMs,
    at('maxDelayMs'),
    `>= baseDelayMs (${resolved.baseDelayMs})`,
    resolved.maxDelayMs,
  );
  checkOneOf(at('jitter'), resolved.jitter, JITTER_MODES);
  checkFunction(at('retryOn'), resolved.retryOn);
  check(
    typeof resolved.honorRetryAfter === 'boolean',
    at('honorRetryAfter'),
    'a boolean',
    resolved.honorRetryAfter,
  );
  if (resolved.budget !== undefined) resolveRetryBudget(resolved.budget, scope);
  return resolved;
}
