import type { CircuitState } from '../core/events.js';
import type {
  AdmittedCall,
  CircuitConfig,
  CircuitSnapshot,
  CircuitTransition,
  TransitionListener,
} from './circuit-breaker.store.js';
import { usesRates, type OutcomeWindow } from './outcome-window.js';

/*
 * The state of one circuit in InMemoryCircuitBreakerStore, and the helpers that need no store.
 */

export interface ProbeLease {
  readonly id: number;
  readonly deadline: number;
}

/** A probe's admission names its lease, so its outcome frees that slot and no other. */
export type ProbeAdmission = AdmittedCall & { readonly probeId: number };

export interface CircuitEntry {
  state: CircuitState;
  failures: number;
  epoch: number;
  openUntil: number;
  /** Held open by `force('open')` until `force('closed')`: no recovery window, no probes. */
  forced: boolean;
  /** Moves open to half-open as the recovery window ends, for a listener that asked. */
  recoveryTimer: ReturnType<typeof setTimeout> | undefined;
  /** The outcomes of the closed circuit, when it opens on rates; made at the first one. */
  window: OutcomeWindow | undefined;
  /** The probes in flight while half-open, oldest first, each with its lease deadline. */
  probes: ProbeLease[];
  /** Reused for every call admitted while closed, so the hot path allocates nothing. */
  closedAdmission: AdmittedCall;
}

export function newEntry(): CircuitEntry {
  return {
    state: 'closed',
    failures: 0,
    epoch: 0,
    openUntil: 0,
    forced: false,
    recoveryTimer: undefined,
    window: undefined,
    probes: [],
    closedAdmission: { admitted: true, epoch: 0, probe: false },
  };
}

/** setTimeout's ceiling: a longer delay would fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * The retry hint of a circuit held open by hand: nobody knows when it will close, so callers
 * are told to come back after one recovery window (1 s when the window is 0).
 */
export function heldOpenRetryAfterMs(config: CircuitConfig): number {
  return config.recoveryWindowMs > 0 ? Math.ceil(config.recoveryWindowMs) : 1000;
}

/** A listener's failure must not escape a timer (it would crash the process). */
export function notify(listener: TransitionListener, transition: CircuitTransition): void {
  try {
    listener(transition);
  } catch {
    // The engine's listener only emits an event; a throwing subscriber is the app's to fix.
  }
}

export function stopRecoveryTimer(entry: CircuitEntry): void {
  if (entry.recoveryTimer === undefined) return;
  clearTimeout(entry.recoveryTimer);
  entry.recoveryTimer = undefined;
}

/** Adds the window's figures to a snapshot when the circuit opens on rates. */
export function withWindow(
  snapshot: CircuitSnapshot,
  entry: CircuitEntry,
  config: CircuitConfig | undefined,
  now: number,
): CircuitSnapshot {
  if (config === undefined || !usesRates(config)) return snapshot;
  const { calls, failures, slow } = entry.window?.stats(now) ?? { calls: 0, failures: 0, slow: 0 };
  const rate = (count: number) => (calls === 0 ? 0 : count / calls);
  return { ...snapshot, windowCalls: calls, failureRate: rate(failures), slowCallRate: rate(slow) };
}
