import { systemClock, type Clock } from '../core/clock.js';
import type { CircuitState } from '../core/events.js';
import {
  CircuitBreakerStore,
  type AdmitRequest,
  type AdmittedCall,
  type CircuitAdmission,
  type CircuitConfig,
  type CircuitSnapshot,
  type CircuitTransition,
  type ForceRequest,
  type RecordRequest,
  type SnapshotRequest,
  type TransitionListener,
} from './circuit-breaker.store.js';

/** setTimeout's ceiling: a longer delay would fire at once. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * The retry hint of a circuit held open by hand: nobody knows when it will close, so callers
 * are told to come back after one recovery window (1 s when the window is 0).
 */
export function heldOpenRetryAfterMs(config: CircuitConfig): number {
  return config.recoveryWindowMs > 0 ? Math.ceil(config.recoveryWindowMs) : 1000;
}

/** A listener's failure must not escape a timer (it would crash the process). */
function notify(listener: TransitionListener, transition: CircuitTransition): void {
  try {
    listener(transition);
  } catch {
    // The engine's listener only emits an event; a throwing subscriber is the app's to fix.
  }
}

interface ProbeLease {
  readonly id: number;
  readonly deadline: number;
}

/** A probe's admission names its lease, so its outcome frees that slot and no other. */
type ProbeAdmission = AdmittedCall & { readonly probeId: number };

interface CircuitEntry {
  state: CircuitState;
  failures: number;
  epoch: number;
  openUntil: number;
  /** Held open by `force('open')` until `force('closed')`: no recovery window, no probes. */
  forced: boolean;
  /** Moves open to half-open as the recovery window ends, for a listener that asked. */
  recoveryTimer: ReturnType<typeof setTimeout> | undefined;
  /** The probes in flight while half-open, oldest first, each with its lease deadline. */
  probes: ProbeLease[];
  /** Reused for every call admitted while closed, so the hot path allocates nothing. */
  closedAdmission: AdmittedCall;
}

/**
 * Process-local circuit state, answered synchronously. Time-based transitions happen lazily at
 * the next call, and also by an unref'd timer as the recovery window ends when the outcome that
 * opened the circuit came with an `onTransition` listener (the engine always gives one), so the
 * open -> half-open event is reported when it happens. A transition or a forced state clears it.
 *
 * @publicApi
 */
export class InMemoryCircuitBreakerStore extends CircuitBreakerStore {
  private readonly circuits = new Map<string, CircuitEntry>();
  private lastProbeId = 0;
  private lastCircuit: string | undefined;
  private lastEntry: CircuitEntry | undefined;

  constructor(private readonly clock: Clock = systemClock) {
    super();
  }

  admit({ circuit, config }: AdmitRequest): CircuitAdmission {
    const entry = this.entry(circuit);
    if (entry.state === 'closed') return entry.closedAdmission;
    if (entry.forced) return { admitted: false, retryAfterMs: heldOpenRetryAfterMs(config) };
    const now = this.clock.now();
    let transition: CircuitTransition | undefined;
    if (entry.state === 'open') {
      if (now < entry.openUntil) return { admitted: false, retryAfterMs: entry.openUntil - now };
      transition = this.moveTo(entry, 'half-open', now);
    }
    return this.admitProbe(entry, config, now, transition);
  }

  record(request: RecordRequest): CircuitTransition | undefined {
    const { circuit, admission, outcome } = request;
    const entry = this.entry(circuit);
    if (admission.epoch !== entry.epoch) return undefined;
    if (admission.probe) this.endProbe(entry, (admission as ProbeAdmission).probeId);
    if (outcome === 'success') return this.recordSuccess(entry);
    if (outcome === 'failure') return this.recordFailure(entry, request);
    return undefined;
  }

  snapshot({ circuit }: SnapshotRequest): CircuitSnapshot {
    const entry = this.entry(circuit);
    const now = this.clock.now();
    const windowPassed = entry.state === 'open' && !entry.forced && now >= entry.openUntil;
    return {
      state: windowPassed ? 'half-open' : entry.state,
      failures: entry.failures,
      epoch: entry.epoch,
      openUntil: entry.state === 'open' && !entry.forced ? entry.openUntil : null,
      probesInFlight: entry.state === 'half-open' ? this.liveProbes(entry, now) : 0,
      forced: entry.forced,
    };
  }

  /** Forcing open an open circuit holds it without a transition (same epoch). */
  force({ circuit, state }: ForceRequest): CircuitTransition | undefined {
    const entry = this.entry(circuit);
    const now = this.clock.now();
    if (state === 'closed') {
      entry.failures = 0;
      return entry.state === 'closed' ? undefined : this.moveTo(entry, 'closed', now);
    }
    const transition = entry.state === 'open' ? undefined : this.moveTo(entry, 'open', now);
    this.stopRecoveryTimer(entry);
    entry.forced = true;
    entry.openUntil = 0;
    return transition;
  }

  private admitProbe(
    entry: CircuitEntry,
    config: CircuitConfig,
    now: number,
    transition: CircuitTransition | undefined,
  ): CircuitAdmission {
    if (this.liveProbes(entry, now) >= config.halfOpenMaxCalls) {
      const retryAfterMs = Math.max(
        1,
        Math.min(entry.probes[0].deadline - now, config.recoveryWindowMs || 1000),
      );
      return { admitted: false, retryAfterMs, transition };
    }
    const probeId = ++this.lastProbeId;
    entry.probes.push({ id: probeId, deadline: now + config.probeLeaseMs });
    const admission: ProbeAdmission = { admitted: true, epoch: entry.epoch, probe: true, probeId };
    return transition === undefined ? admission : { ...admission, transition };
  }

  /** Frees this probe's own slot; a probe whose lease already ran out has none left to free. */
  private endProbe(entry: CircuitEntry, probeId: number): void {
    const index = entry.probes.findIndex((probe) => probe.id === probeId);
    if (index >= 0) entry.probes.splice(index, 1);
  }

  /** Drops probes whose lease ran out (hung calls), freeing their slots. */
  private liveProbes(entry: CircuitEntry, now: number): number {
    while (entry.probes.length > 0 && entry.probes[0].deadline <= now) entry.probes.shift();
    return entry.probes.length;
  }

  private recordSuccess(entry: CircuitEntry): CircuitTransition | undefined {
    entry.failures = 0;
    return entry.state === 'half-open' ? this.moveTo(entry, 'closed', this.clock.now()) : undefined;
  }

  private recordFailure(
    entry: CircuitEntry,
    request: RecordRequest,
  ): CircuitTransition | undefined {
    entry.failures++;
    if (entry.state === 'closed' && entry.failures < request.config.threshold) return undefined;
    return this.open(entry, request);
  }

  private open(entry: CircuitEntry, request: RecordRequest): CircuitTransition {
    const now = this.clock.now();
    const transition = this.moveTo(entry, 'open', now);
    entry.openUntil = now + request.config.recoveryWindowMs;
    if (request.onTransition !== undefined) this.armRecoveryTimer(entry, request.onTransition);
    return transition;
  }

  /**
   * Fires as the recovery window ends and moves the circuit to half-open, unless a transition
   * came first (which cleared the timer). Real time drives the timer, the store's clock decides:
   * woken early by a clock that runs behind, it waits again for what the clock says is left.
   */
  private armRecoveryTimer(entry: CircuitEntry, listener: TransitionListener): void {
    const epoch = entry.epoch;
    const fire = () => {
      entry.recoveryTimer = undefined;
      if (entry.state !== 'open' || entry.forced || entry.epoch !== epoch) return;
      const now = this.clock.now();
      if (now < entry.openUntil) return arm(entry.openUntil - now);
      notify(listener, this.moveTo(entry, 'half-open', now));
    };
    const arm = (delayMs: number) => {
      entry.recoveryTimer = setTimeout(fire, Math.min(delayMs, MAX_TIMER_MS));
      entry.recoveryTimer.unref?.();
    };
    this.stopRecoveryTimer(entry);
    arm(entry.openUntil - this.clock.now());
  }

  private stopRecoveryTimer(entry: CircuitEntry): void {
    if (entry.recoveryTimer === undefined) return;
    clearTimeout(entry.recoveryTimer);
    entry.recoveryTimer = undefined;
  }

  /** Every transition starts a new epoch, which turns outcomes still in flight stale. */
  private moveTo(entry: CircuitEntry, to: CircuitState, at: number): CircuitTransition {
    const from = entry.state;
    entry.state = to;
    entry.epoch++;
    entry.forced = false;
    this.stopRecoveryTimer(entry);
    entry.probes = [];
    entry.closedAdmission = { admitted: true, epoch: entry.epoch, probe: false };
    return { from, to, at };
  }

  /**
   * Each call looks its circuit up twice (admit, record), nearly always the same one in a row:
   * remembering the last lookup skips the hash. Entries are never removed, so it cannot go stale.
   */
  private entry(circuit: string): CircuitEntry {
    if (circuit === this.lastCircuit) return this.lastEntry!;
    const entry = this.lookup(circuit);
    this.lastCircuit = circuit;
    this.lastEntry = entry;
    return entry;
  }

  private lookup(circuit: string): CircuitEntry {
    let entry = this.circuits.get(circuit);
    if (entry === undefined) {
      entry = {
        state: 'closed',
        failures: 0,
        epoch: 0,
        openUntil: 0,
        forced: false,
        recoveryTimer: undefined,
        probes: [],
        closedAdmission: { admitted: true, epoch: 0, probe: false },
      };
      this.circuits.set(circuit, entry);
    }
    return entry;
  }
}
