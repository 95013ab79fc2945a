import { randomBytes } from 'node:crypto';
import type { OnApplicationShutdown } from '@nestjs/common';
import {
  CircuitBreakerStore,
  type AdmitRequest,
  type AdmittedCall,
  type CallOutcome,
  type CircuitAdmission,
  type CircuitConfig,
  type CircuitOpenReason,
  type CircuitSnapshot,
  type CircuitTransition,
  type ForceRequest,
  type RecordRequest,
  type SnapshotRequest,
  type TransitionListener,
} from '../circuit-breaker/circuit-breaker.store.js';
import { InMemoryCircuitBreakerStore } from '../circuit-breaker/in-memory-circuit-breaker.store.js';
import { usesRates } from '../circuit-breaker/outcome-window.js';
import type { CircuitState } from '../core/events.js';
import { checkNumber } from '../core/validate.js';
import {
  CB_ADMIT,
  CB_FORCE,
  CB_RECORD,
  CB_RECOVER,
  CB_RELEASE_PROBE,
  CB_SNAPSHOT,
  CB_WINDOW_SNAPSHOT,
} from './lua/circuit-breaker.lua.js';
import {
  RedisBackend,
  type ChannelListener,
  type RedisConnectionSpec,
  type Undo,
} from './redis-backend.js';
import type { RedisClient } from './redis-client.js';
import type { RedisBackendOptions } from './redis-options.js';
import { RecoveryTimers, type RecoverReply } from './circuit-recovery-timers.js';
import { CircuitWindowSync } from './circuit-window-sync.js';
import {
  WindowSyncScript,
  windowArgs,
  withWindowStats,
  type WindowSyncReply,
} from './circuit-window-script.js';
import { RedisUnavailableError } from './redis-unavailable.error.js';

/**
 * Options of `RedisCircuitBreakerStore`. The backend options apply only when the store creates
 * its own backend (it was given a client or a connection spec, not a `RedisBackend`).
 *
 * @publicApi
 */
export interface RedisCircuitBreakerStoreOptions extends RedisBackendOptions {
  /**
   * How long the state of a circuit nobody writes to is kept; never less than twice
   * `recoveryWindowMs + probeLeaseMs`. A circuit held open by `force('open')` lapses (reads
   * closed) this long after the force, unless forced open again. @default 86_400_000 (24 h)
   */
  stateTtlMs?: number;
}

/** A Redis admission; a probe carries the token of its lease. */
interface RedisAdmittedCall extends AdmittedCall {
  readonly probeToken?: string;
}

/** The newest transition this process knows of, for one circuit. */
interface KnownCircuit {
  readonly epoch: number;
  /** `performance.now()` deadline while open (immune to wall-clock jumps); 0 once not open. */
  readonly until: number;
}

type AdmitReply = [number, number, number, number, number, string];
type TransitionReply = [number, number?, number?, number?, string?, string?];
type SnapshotReply = [string, number, number, number, number, number, number];

const STATES: Record<string, CircuitState> = { c: 'closed', o: 'open', h: 'half-open' };
const OUTCOMES: Record<CallOutcome, string> = { success: 's', failure: 'f', ignored: 'i' };
const DEFAULT_STATE_TTL_MS = 86_400_000;
const noop = (): void => undefined;
/** The admission a window-opening's recovery timer is armed with (the timer only reads names). */
const CLOSED: AdmittedCall = { admitted: true, epoch: 0, probe: false };

/**
 * A circuit breaker shared by every process that uses the same Redis and key prefix: one state
 * and epoch per circuit, probe leases so half-open admits at most `halfOpenMaxCalls` probes
 * fleet-wide (a crashed prober's slot frees after `probeLeaseMs`), stale outcomes ignored.
 * An open circuit is cached in-process until its `openUntil`, so rejecting costs no round trip;
 * transitions are published so other processes learn them at once. While Redis is down or hung
 * each process falls back to its own in-memory breaker.
 *
 * Round trips: admit 1, record 1 (0 for an ignored non-probe outcome), rejection while open 0.
 * With a failure-rate or slow-call window, the closed path costs none: admission is answered
 * from the closed state last learned, outcomes are batched and merged into the fleet's window
 * once per `syncIntervalMs` (see CircuitWindowSync); probes cost a round trip each, as above.
 *
 * @publicApi
 * @example
 * const store = new RedisCircuitBreakerStore(new Redis({ commandTimeout: 250, enableOfflineQueue: false, maxRetriesPerRequest: 1 }));
 * OrchestratorModule.forRoot({ stores: { circuitBreaker: store } });
 */
export class RedisCircuitBreakerStore extends CircuitBreakerStore implements OnApplicationShutdown {
  readonly backend: RedisBackend;
  private readonly stateTtlMs: number;
  private readonly local = new InMemoryCircuitBreakerStore();
  private readonly localAdmissions = new WeakSet<object>();
  /**
   * One entry per circuit this process heard of (bounded by the fleet's circuit names). Closed
   * entries are kept for their epoch: replies and pub/sub travel on different connections, so
   * the message of an earlier "open" can arrive after the reply that closed it again.
   */
  private readonly knownCircuits = new Map<string, KnownCircuit>();
  private readonly tokenPrefix = randomBytes(6).toString('hex');
  private readonly channel: string;
  private tokens = 0;
  /** Server time minus `Date.now()`, from the last reply; only used for pub/sub messages. */
  private offsetMs: number | undefined;
  private listener?: ChannelListener;
  private readonly recovery = new RecoveryTimers((request, epoch) => this.recover(request, epoch));
  private readonly windowScript: WindowSyncScript;
  private readonly windows: CircuitWindowSync;

  constructor(
    client: RedisClient | RedisConnectionSpec | RedisBackend,
    options: RedisCircuitBreakerStoreOptions = {},
  ) {
    super();
    const { stateTtlMs = DEFAULT_STATE_TTL_MS, ...backendOptions } = options;
    checkNumber('RedisCircuitBreakerStore: stateTtlMs', stateTtlMs, 1);
    this.stateTtlMs = stateTtlMs;
    this.backend = RedisBackend.of(client, backendOptions);
    this.channel = this.backend.channel('cb:transitions');
    this.windowScript = new WindowSyncScript(this.backend, this.channel, {
      ttl: (config) => this.ttl(config),
      opened: (batch, reply) => this.openedByWindow(batch, reply),
      learn: (circuit, epoch, closed) => this.windows.learn(circuit, epoch, closed),
      forget: (circuit) => this.windows.forget(circuit),
    });
    this.windows = new CircuitWindowSync((batch) => this.windowScript.send(batch));
    this.backend.onClose(() => this.stop());
  }

  admit(request: AdmitRequest): CircuitAdmission | Promise<CircuitAdmission> {
    const { circuit, config } = request;
    const rejection = this.cachedRejection(circuit);
    if (rejection !== undefined) return rejection;
    if (!this.backend.available) return this.admitLocally(request);
    if (usesRates(config)) {
      const closed = this.windows.closedAdmission(circuit);
      if (closed !== undefined) return closed; // window mode: the closed path asks nobody
    }
    this.listenForTransitions();
    const token = `${this.tokenPrefix}:${++this.tokens}`;
    const args = [
      config.halfOpenMaxCalls,
      Math.ceil(config.probeLeaseMs),
      token,
      this.ttl(config),
      this.channel,
      circuit,
      Math.ceil(config.recoveryWindowMs),
    ];
    // A probe granted to an admit whose reply was lost would hold its slot for probeLeaseMs.
    const undo: Undo = {
      script: CB_RELEASE_PROBE,
      keys: this.keys(circuit),
      args: [token],
      maxAgeMs: config.probeLeaseMs,
    };
    return this.backend.run(CB_ADMIT, this.keys(circuit), args, undo).then(
      (reply) => this.toAdmission(circuit, reply as AdmitReply, token),
      () => this.admitLocally(request),
    );
  }

  record(
    request: RecordRequest,
  ): CircuitTransition | undefined | Promise<CircuitTransition | undefined> {
    const { circuit, config, admission, outcome } = request;
    if (this.localAdmissions.has(admission)) return this.local.record(request);
    const token = (admission as RedisAdmittedCall).probeToken ?? '';
    // Window mode, closed: the outcome joins this process's batch (or is stale): no round trip.
    if (token === '' && usesRates(config)) return this.recordInWindow(request);
    // An ignored outcome of a non-probe call changes nothing: no round trip.
    if (outcome === 'ignored' && token === '') return undefined;
    if (!this.backend.available) return this.recordLocally(request, token);
    const args = [
      admission.epoch,
      OUTCOMES[outcome],
      token,
      config.threshold,
      Math.ceil(config.recoveryWindowMs),
      this.ttl(config),
      this.channel,
      circuit,
    ];
    return this.backend.run(CB_RECORD, this.keys(circuit), args).then(
      (reply) => this.recorded(request, reply as TransitionReply),
      () => this.recordLocally(request, token),
    );
  }

  snapshot(request: SnapshotRequest): CircuitSnapshot | Promise<CircuitSnapshot> {
    if (!this.backend.available) return this.local.snapshot(request);
    if (usesRates(request.config)) {
      const args = windowArgs(request.config);
      return this.backend
        .run(CB_WINDOW_SNAPSHOT, this.windowScript.keys(request.circuit), args)
        .then(
          (reply) => withWindowStats(toSnapshot(reply as SnapshotReply), reply as number[]),
          () => this.local.snapshot(request),
        );
    }
    return this.backend.run(CB_SNAPSHOT, this.keys(request.circuit), []).then(
      (reply) => toSnapshot(reply as SnapshotReply),
      () => this.local.snapshot(request),
    );
  }

  /**
   * Forces the circuit for the whole fleet.
   * @throws {RedisUnavailableError} (as a rejection) when Redis cannot be reached: a forced
   * state that only this process knew of would be misleading.
   */
  async force({ circuit, config, state }: ForceRequest): Promise<CircuitTransition | undefined> {
    const args = [
      state === 'open' ? 'o' : 'c',
      Math.ceil(config.recoveryWindowMs),
      this.ttl(config),
      this.channel,
      circuit,
    ];
    try {
      const reply = await this.backend.run(CB_FORCE, this.keys(circuit), args);
      return this.toTransition(circuit, reply as TransitionReply, 'forced');
    } catch (error) {
      throw new RedisUnavailableError(`circuit "${circuit}": force ${state}`, { cause: error });
    }
  }

  /**
   * Merges every pending window batch into the fleet's windows now, rather than at the end of
   * its sync interval; settles once Redis answered each (a batch Redis refused is dropped).
   */
  flushWindows(): Promise<void> {
    return this.windows.flush();
  }

  /** Sends the pending window batches first, so a graceful shutdown loses none. */
  async onApplicationShutdown(): Promise<void> {
    await this.windows.flush();
    return this.backend.close();
  }

  private keys(circuit: string): string[] {
    return [this.backend.key('cb', circuit, 'st'), this.backend.key('cb', circuit, 'probe')];
  }

  private ttl(config: CircuitConfig): number {
    const minimum = 2 * (config.recoveryWindowMs + config.probeLeaseMs);
    return Math.ceil(Math.max(this.stateTtlMs, minimum));
  }

  private toAdmission(circuit: string, reply: AdmitReply, token: string): CircuitAdmission {
    const [code, epoch, now, openUntil, retryAfterMs, from] = reply;
    this.offsetMs = now - Date.now();
    const transition: CircuitTransition | undefined =
      from === 'o' ? { from: 'open', to: 'half-open', at: now } : undefined;
    if (code === 0) {
      if (openUntil > 0) this.cacheOpen(circuit, epoch, openUntil - now);
      return { admitted: false, retryAfterMs, transition };
    }
    this.windows.learn(circuit, epoch, code === 1);
    if (code === 1) return { admitted: true, epoch, probe: false };
    const probe: RedisAdmittedCall = {
      admitted: true,
      epoch,
      probe: true,
      probeToken: token,
      transition,
    };
    return probe;
  }

  /** An outcome that opened the circuit arms this process's timer for the window's end. */
  private recorded(request: RecordRequest, reply: TransitionReply): CircuitTransition | undefined {
    const reason = reply[4] === 'h' ? 'probe-failure' : 'consecutive-failures';
    const transition = this.toTransition(request.circuit, reply, reason);
    if (transition?.to === 'open' && request.onTransition !== undefined) {
      const [, epoch = 0, now = 0, openUntil = 0] = reply;
      this.recovery.arm(request, epoch, openUntil - now);
    }
    return transition;
  }

  /** Asks Redis to end the recovery window the timer of `recovery` saw end. */
  private recover(request: RecordRequest, epoch: number): Promise<RecoverReply> {
    const { circuit, config } = request;
    const args = [epoch, this.ttl(config), this.channel, circuit];
    return this.backend.run(CB_RECOVER, this.keys(circuit), args).then((reply) => {
      const [code, newEpoch = 0] = reply as RecoverReply;
      if (code === 2) this.clearOpen(circuit, newEpoch);
      if (code === 2) this.windows.learn(circuit, newEpoch, false);
      return reply as RecoverReply;
    });
  }

  /** `reason`: why the circuit opened, when the reply moved it to open. */
  private toTransition(
    circuit: string,
    reply: TransitionReply,
    reason: CircuitOpenReason,
  ): CircuitTransition | undefined {
    const [code, epoch = 0, now = 0, openUntil = 0, from = 'c', to = 'c'] = reply;
    if (code !== 2) return undefined;
    this.offsetMs = now - Date.now();
    this.windows.learn(circuit, epoch, to === 'c');
    if (to !== 'o') {
      this.clearOpen(circuit, epoch);
      return { from: STATES[from], to: STATES[to], at: now };
    }
    this.cacheOpen(circuit, epoch, openUntil - now);
    return { from: STATES[from], to: 'open', at: now, reason };
  }

  private admitLocally(request: AdmitRequest): CircuitAdmission {
    const admission = this.local.admit(request);
    this.localAdmissions.add(admission);
    return admission;
  }

  /**
   * Redis is unavailable: failures still count, on this process's own breaker, and a probe's
   * slot in Redis is freed once Redis answers again (else it stays taken for `probeLeaseMs`).
   */
  private recordLocally(request: RecordRequest, probeToken: string): CircuitTransition | undefined {
    const { circuit, config, outcome } = request;
    if (probeToken !== '') {
      const args = [probeToken];
      const lease = config.probeLeaseMs;
      this.backend.settle(CB_RELEASE_PROBE, this.keys(circuit), args, lease).catch(noop);
    }
    if (outcome !== 'failure') return undefined;
    const { epoch } = this.local.snapshot(request);
    return this.local.record({ ...request, admission: { admitted: true, epoch, probe: false } });
  }

  private cachedRejection(circuit: string): CircuitAdmission | undefined {
    const known = this.knownCircuits.get(circuit);
    if (known === undefined || known.until === 0) return undefined;
    const remaining = known.until - performance.now();
    return remaining > 0 ? { admitted: false, retryAfterMs: Math.ceil(remaining) } : undefined;
  }

  private cacheOpen(circuit: string, epoch: number, remainingMs: number): void {
    const known = this.knownCircuits.get(circuit);
    if (remainingMs <= 0 || (known !== undefined && known.epoch > epoch)) return;
    this.knownCircuits.set(circuit, { epoch, until: performance.now() + remainingMs });
  }

  private clearOpen(circuit: string, epoch: number): void {
    const known = this.knownCircuits.get(circuit);
    if (known === undefined || known.epoch < epoch)
      this.knownCircuits.set(circuit, { epoch, until: 0 });
  }

  private listenForTransitions(): void {
    this.listener ??= this.backend.listen(this.channel, (message) => this.onTransition(message));
  }

  /** `s|epoch|openUntil|now|name`, published by every transition anywhere in the fleet. */
  private onTransition(message: string): void {
    const parts = message.split('|');
    if (parts.length < 5) return;
    const [code, epoch, openUntil, now] = [parts[0], +parts[1], +parts[2], +parts[3]];
    const circuit = parts.slice(4).join('|');
    this.windows.learn(circuit, epoch, code === 'c');
    if (code !== 'o') return this.clearOpen(circuit, epoch);
    // Without a measured offset a skewed client clock could stretch the cache: never trust it
    // beyond the open time the message itself states.
    if (this.offsetMs === undefined) return;
    const remaining = Math.min(openUntil - now, openUntil - (Date.now() + this.offsetMs));
    this.cacheOpen(circuit, epoch, remaining);
  }

  /** Window mode: an outcome of the closed path joins this process's batch. */
  private recordInWindow(request: RecordRequest): CircuitTransition | undefined {
    // Redis is unavailable: the outcome counts in this process's own window instead.
    if (!this.backend.available) {
      const { epoch } = this.local.snapshot(request);
      return this.local.record({ ...request, admission: { admitted: true, epoch, probe: false } });
    }
    this.listenForTransitions();
    this.windows.add(request);
    return undefined;
  }

  /** A batch this process sent opened the circuit: cache it, report it, time its recovery. */
  private openedByWindow(
    batch: { circuit: string; config: CircuitConfig; onTransition?: TransitionListener },
    reply: WindowSyncReply,
  ): void {
    const [, epoch, now, openUntil, , reason] = reply;
    const opened: TransitionReply = [2, epoch, now, openUntil, 'c', 'o'];
    const transition = this.toTransition(batch.circuit, opened, reason as CircuitOpenReason);
    if (transition === undefined || batch.onTransition === undefined) return;
    try {
      batch.onTransition(transition);
    } catch {
      // The engine's listener only emits an event; a throwing subscriber is the app's to fix.
    }
    const request = { ...batch, admission: CLOSED, outcome: 'failure' as const };
    this.recovery.arm(request, epoch, openUntil - now);
  }

  private stop(): void {
    this.windows.clear();
    this.recovery.clear();
    this.listener?.close();
    this.knownCircuits.clear();
  }
}

function toSnapshot(reply: SnapshotReply): CircuitSnapshot {
  const [s, failures, epoch, openUntil, probes, now, held] = reply;
  const forced = held === 1;
  const windowPassed = s === 'o' && !forced && now >= openUntil;
  return {
    state: windowPassed ? 'half-open' : STATES[s],
    failures,
    epoch,
    openUntil: s === 'o' && !forced ? openUntil : null,
    probesInFlight: s === 'h' ? probes : 0,
    forced,
  };
}
