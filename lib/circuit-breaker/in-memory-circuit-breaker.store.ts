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
} from './circuit-breaker.store.js';

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
  /** The probes in flight while half-open, oldest first, each with its lease deadline. */
  probes: ProbeLease[];
  /** Reused for every call admitted while closed, so the hot path allocates nothing. */
  closedAdmission: AdmittedCall;
}

/**
 * Process-local circuit state: synchronous answers, lazy time-based transitions (no timers).
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
    const now = this.clock.now();
    let transition: CircuitTransition | undefined;
    if (entry.state === 'open') {
      if (now < entry.openUntil) return { admitted: false, retryAfterMs: entry.openUntil - now };
      transition = this.moveTo(entry, 'half-open', now);
    }
    return this.admitProbe(entry, config, now, transition);
  }

  record({ circuit, config, admission, outcome }: RecordRequest): CircuitTransition | undefined {
    const entry = this.entry(circuit);
    if (admission.epoch !== entry.epoch) return undefined;
    if (admission.probe) this.endProbe(entry, (admission as ProbeAdmission).probeId);
    if (outcome === 'success') return this.recordSuccess(entry);
    if (outcome === 'failure') return this.recordFailure(entry, config);
    return undefined;
  }

  snapshot({ circuit }: SnapshotRequest): CircuitSnapshot {
    const entry = this.entry(circuit);
    const now = this.clock.now();
    const windowPassed = entry.state === 'open' && now >= entry.openUntil;
    return {
      state: windowPassed ? 'half-open' : entry.state,
      failures: entry.failures,
      epoch: entry.epoch,
      openUntil: entry.state === 'open' ? entry.openUntil : null,
      probesInFlight: entry.state === 'half-open' ? this.liveProbes(entry, now) : 0,
    };
  }

  force({ circuit, config, state }: ForceRequest): CircuitTransition | undefined {
    const entry = this.entry(circuit);
    const now = this.clock.now();
    if (state === 'closed') {
      entry.failures = 0;
      return entry.state === 'closed' ? undefined : this.moveTo(entry, 'closed', now);
    }
    const transition = entry.state === 'open' ? undefined : this.moveTo(entry, 'open', now);
    entry.openUntil = now + config.recoveryWindowMs;
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

  private recordFailure(entry: CircuitEntry, config: CircuitConfig): CircuitTransition | undefined {
    entry.failures++;
    if (entry.state === 'closed' && entry.failures < config.threshold) return undefined;
    const now = this.clock.now();
    const transition = this.moveTo(entry, 'open', now);
    entry.openUntil = now + config.recoveryWindowMs;
    return transition;
  }

  /** Every transition starts a new epoch, which turns outcomes still in flight stale. */
  private moveTo(entry: CircuitEntry, to: CircuitState, at: number): CircuitTransition {
    const from = entry.state;
    entry.state = to;
    entry.epoch++;
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
        probes: [],
        closedAdmission: { admitted: true, epoch: 0, probe: false },
      };
      this.circuits.set(circuit, entry);
    }
    return entry;
  }
}
