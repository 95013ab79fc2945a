import { systemClock, type Clock } from '../core/clock.js';
import type { CircuitState } from '../core/events.js';
import {
  CircuitBreakerStore,
  type AdmitRequest,
  type CircuitAdmission,
  type CircuitConfig,
  type CircuitOpenReason,
  type CircuitSnapshot,
  type CircuitTransition,
  type ForceRequest,
  type RecordRequest,
  type SnapshotRequest,
  type TransitionListener,
} from './circuit-breaker.store.js';
import {
  MAX_TIMER_MS,
  heldOpenRetryAfterMs,
  newEntry,
  notify,
  stopRecoveryTimer,
  withWindow,
  type CircuitEntry,
  type ProbeAdmission,
} from './circuit-entry.js';
import { createWindow, isSlow, usesRates, windowFits } from './outcome-window.js';

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
    if (entry.state === 'closed' && usesRates(request.config)) {
      return this.recordInWindow(entry, request);
    }
    if (outcome === 'success') return this.recordSuccess(entry);
    if (outcome === 'failure') return this.recordFailure(entry, request);
    return undefined;
  }

  snapshot({ circuit, config }: SnapshotRequest): CircuitSnapshot {
    const entry = this.entry(circuit);
    const now = this.clock.now();
    const windowPassed = entry.state === 'open' && !entry.forced && now >= entry.openUntil;
    const snapshot: CircuitSnapshot = {
      state: windowPassed ? 'half-open' : entry.state,
      failures: entry.failures,
      epoch: entry.epoch,
      openUntil: entry.state === 'open' && !entry.forced ? entry.openUntil : null,
      probesInFlight: entry.state === 'half-open' ? this.liveProbes(entry, now) : 0,
      forced: entry.forced,
    };
    return withWindow(snapshot, entry, config, now);
  }

  /** Forcing open an open circuit holds it without a transition (same epoch). */
  force({ circuit, state }: ForceRequest): CircuitTransition | undefined {
    const entry = this.entry(circuit);
    const now = this.clock.now();
    if (state === 'closed') {
      entry.failures = 0;
      return entry.state === 'closed' ? undefined : this.moveTo(entry, 'closed', now);
    }
    const transition =
      entry.state === 'open' ? undefined : this.moveTo(entry, 'open', now, 'forced');
    stopRecoveryTimer(entry);
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
    if (entry.state !== 'closed') return this.open(entry, request, 'probe-failure');
    if (entry.failures < request.config.threshold) return undefined;
    return this.open(entry, request, 'consecutive-failures');
  }

  /** A closed circuit that opens on rates: the outcome joins the window, which may open it. */
  private recordInWindow(
    entry: CircuitEntry,
    request: RecordRequest,
  ): CircuitTransition | undefined {
    const { config, outcome } = request;
    if (outcome === 'ignored') return undefined;
    entry.failures = outcome === 'failure' ? entry.failures + 1 : 0;
    if (entry.window === undefined || !windowFits(entry.window, config)) {
      entry.window = createWindow(config);
    }
    const slow = isSlow(config, request.durationMs);
    const reason = entry.window.record(outcome === 'failure', slow, config, this.clock);
    return reason === undefined ? undefined : this.open(entry, request, reason);
  }

  private open(
    entry: CircuitEntry,
    request: RecordRequest,
    reason: CircuitOpenReason,
  ): CircuitTransition {
    const now = this.clock.now();
    const transition = this.moveTo(entry, 'open', now, reason);
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
    stopRecoveryTimer(entry);
    arm(entry.openUntil - this.clock.now());
  }

  /** Every transition starts a new epoch, which turns outcomes still in flight stale. */
  private moveTo(
    entry: CircuitEntry,
    to: CircuitState,
    at: number,
    reason?: CircuitOpenReason,
  ): CircuitTransition {
    const from = entry.state;
    entry.state = to;
    entry.epoch++;
    entry.forced = false;
    stopRecoveryTimer(entry);
    entry.window?.reset(); // each closed spell starts its window afresh
    entry.probes = [];
    entry.closedAdmission = { admitted: true, epoch: entry.epoch, probe: false };
    return reason === undefined ? { from, to, at } : { from, to, at, reason };
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
      entry = newEntry();
      this.circuits.set(circuit, entry);
    }
    return entry;
  }
}
