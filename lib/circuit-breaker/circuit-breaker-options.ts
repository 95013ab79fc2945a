import { isOrchestratorRefusal } from '../core/orchestrator.error.js';
import {
  checkFunction,
  checkInteger,
  checkNumber,
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
}

export interface ResolvedCircuitBreakerOptions extends Required<
  Omit<CircuitBreakerOptions, 'name'>
> {
  name?: string;
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
};

export function resolveCircuitBreakerOptions(
  options: CircuitBreakerOptions = {},
  scope = '',
): ResolvedCircuitBreakerOptions {
  const resolved = { ...DEFAULT_CIRCUIT_BREAKER_OPTIONS, ...definedOnly(options) };
  const at = (field: string) => fieldPath(scope, `circuitBreaker.${field}`);
  if (options.name !== undefined) checkString(at('name'), options.name);
  checkInteger(at('threshold'), resolved.threshold, 1);
  checkNumber(at('recoveryWindowMs'), resolved.recoveryWindowMs, 0);
  checkInteger(at('halfOpenMaxCalls'), resolved.halfOpenMaxCalls, 1);
  checkNumber(at('probeLeaseMs'), resolved.probeLeaseMs, 1);
  checkFunction(at('isFailure'), resolved.isFailure);
  return resolved;
}
