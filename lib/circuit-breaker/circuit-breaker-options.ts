import { isOrchestratorRefusal } from '../core/orchestrator.error.js';
import { InvalidOptionsError } from '../core/invalid-options.error.js';
import {
  check,
  checkFunction,
  checkInteger,
  checkDuration,
  checkString,
  definedOnly,
  fieldPath,
} from '../core/validate.js';

/**
 * Options of `@CircuitBreaker` and of a policy's `circuitBreaker` section.
 *
 * @publicApi
 */
export interface CircuitBreakerOptions {
  /** The circuit's name: methods (and processes, through a shared store) with one name share it. */
  name?: string;
  /** Consecutive failures that open the circuit; an integer >= 1. @default 5 */
  threshold?: number;
  /** How long the circuit stays open before probes are let through, in ms. @default 30_000 */
  recoveryWindowMs?: number;
  /** Probes allowed at once while half-open; others are rejected. @default 1 */
  halfOpenMaxCalls?: number;
  /**
   * How long a probe may hold its slot before it is presumed lost (a hung call, a crashed
   * process) and the slot is given to another caller, in ms. @default 60_000
   */
  probeLeaseMs?: number;
  /**
   * Which errors count as failures. An error it excludes counts as neither success nor failure.
   * @default every error except this library's own rejections
   */
  isFailure?: (error: unknown) => boolean;
  /**
   * Opens the circuit when the share of failures in the window reaches it, once the window
   * holds `minimumCalls`; 0 < x <= 1. With it (or `slowCallRateThreshold`), `threshold` is unused.
   */
  failureRateThreshold?: number;
  /** Calls the window must hold before its rates count; an integer >= 1. @default 10 */
  minimumCalls?: number;
  /** A count window: the last N calls; an integer >= 1, at least `minimumCalls`. @default 20 */
  windowSize?: number;
  /** A time window instead of a count window: the calls of the last `windowMs` ms. */
  windowMs?: number;
  /** A call that takes longer than this (ms) counts as slow. */
  slowCallMs?: number;
  /** Opens the circuit when the share of slow calls in the window reaches it; 0 < x <= 1. */
  slowCallRateThreshold?: number;
  /** Shared stores: merge local outcomes into the fleet window this often, in ms. @default 100 */
  syncIntervalMs?: number;
}

/** The options that have no default: absent means "not used". */
type WithoutDefault =
  'name' | 'failureRateThreshold' | 'windowMs' | 'slowCallMs' | 'slowCallRateThreshold';

export interface ResolvedCircuitBreakerOptions extends Required<
  Omit<CircuitBreakerOptions, WithoutDefault>
> {
  name?: string;
  failureRateThreshold?: number;
  windowMs?: number;
  slowCallMs?: number;
  slowCallRateThreshold?: number;
}

/** Counts every failure except rejections by other layers (a shed call, an inner open circuit). */
export function isFailureUnlessOrchestratorError(error: unknown): boolean {
  return !isOrchestratorRefusal(error);
}

export const DEFAULT_CIRCUIT_BREAKER_OPTIONS: ResolvedCircuitBreakerOptions = {
  threshold: 5,
  recoveryWindowMs: 30_000,
  halfOpenMaxCalls: 1,
  probeLeaseMs: 60_000,
  isFailure: isFailureUnlessOrchestratorError,
  minimumCalls: 10,
  windowSize: 20,
  syncIntervalMs: 100,
};

export function resolveCircuitBreakerOptions(
  options: CircuitBreakerOptions = {},
  scope = '',
): ResolvedCircuitBreakerOptions {
  const resolved = { ...DEFAULT_CIRCUIT_BREAKER_OPTIONS, ...definedOnly(options) };
  const at = (field: string) => fieldPath(scope, `circuitBreaker.${field}`);
  if (options.name !== undefined) checkString(at('name'), options.name);
  checkInteger(at('threshold'), resolved.threshold, 1);
  checkDuration(at('recoveryWindowMs'), resolved.recoveryWindowMs, 0);
  checkInteger(at('halfOpenMaxCalls'), resolved.halfOpenMaxCalls, 1);
  checkDuration(at('probeLeaseMs'), resolved.probeLeaseMs, 1);
  checkFunction(at('isFailure'), resolved.isFailure);
  checkWindowOptions(options, resolved, at);
  return resolved;
}

/** The failure-rate and slow-call window (API.md §10). */
function checkWindowOptions(
  options: CircuitBreakerOptions,
  resolved: ResolvedCircuitBreakerOptions,
  at: (field: string) => string,
): void {
  for (const field of ['failureRateThreshold', 'slowCallRateThreshold'] as const) {
    const value = resolved[field];
    if (value === undefined) continue;
    const ok = typeof value === 'number' && value > 0 && value <= 1;
    check(ok, at(field), 'a number > 0 and <= 1', value);
  }
  checkInteger(at('minimumCalls'), resolved.minimumCalls, 1);
  checkInteger(at('windowSize'), resolved.windowSize, 1);
  if (options.windowMs !== undefined && options.windowSize !== undefined) {
    throw new InvalidOptionsError(at('windowMs'), 'cannot be combined with windowSize');
  }
  if (resolved.windowMs !== undefined) checkDuration(at('windowMs'), resolved.windowMs, 1);
  else if (resolved.minimumCalls > resolved.windowSize) {
    const rule = `an integer <= windowSize (${resolved.windowSize})`;
    check(false, at('minimumCalls'), rule, resolved.minimumCalls);
  }
  if (resolved.slowCallMs !== undefined) checkDuration(at('slowCallMs'), resolved.slowCallMs, 0);
  if (resolved.slowCallRateThreshold !== undefined && resolved.slowCallMs === undefined) {
    throw new InvalidOptionsError(at('slowCallRateThreshold'), 'requires slowCallMs');
  }
  checkDuration(at('syncIntervalMs'), resolved.syncIntervalMs, 1);
}
