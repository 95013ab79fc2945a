import type { CircuitState } from '../core/events.js';
import type { MaybePromise } from '../core/maybe-promise.js';

/**
 * The part of a breaker's options a store needs to decide. With `failureRateThreshold` or
 * `slowCallRateThreshold` set, the closed circuit opens on the rates of a window of outcomes
 * (the last `windowSize` calls, or the calls of the last `windowMs`) once it holds
 * `minimumCalls`, and `threshold` is unused; without them, on `threshold` consecutive failures.
 */
export interface CircuitConfig {
  readonly threshold: number;
  readonly recoveryWindowMs: number;
  readonly halfOpenMaxCalls: number;
  readonly probeLeaseMs: number;
  readonly failureRateThreshold?: number;
  readonly slowCallRateThreshold?: number;
  /** A call whose `durationMs` is above it counts as slow. */
  readonly slowCallMs?: number;
  readonly minimumCalls?: number;
  readonly windowSize?: number;
  readonly windowMs?: number;
  /** Shared stores: how often a process merges its outcomes into the fleet's window (ms). */
  readonly syncIntervalMs?: number;
}

/** Why a circuit opened. */
export type CircuitOpenReason =
  'consecutive-failures' | 'failure-rate' | 'slow-call-rate' | 'probe-failure' | 'forced';

export interface CircuitTransition {
  readonly from: CircuitState;
  readonly to: CircuitState;
  /** Epoch ms, from the store's clock. */
  readonly at: number;
  /** On a transition to open: why. */
  readonly reason?: CircuitOpenReason;
}

/**
 * The answer to "may this call run?". An admitted call carries the `epoch` it was admitted in;
 * its outcome is ignored if the circuit has changed state since (a late, stale result).
 */
export type CircuitAdmission =
  | {
      readonly admitted: true;
      readonly epoch: number;
      readonly probe: boolean;
      readonly transition?: CircuitTransition;
    }
  | {
      readonly admitted: false;
      readonly retryAfterMs: number;
      readonly transition?: CircuitTransition;
    };

export type AdmittedCall = Extract<CircuitAdmission, { admitted: true }>;

/** `ignored`: neither success nor failure (excluded by `isFailure`, or a stream abandoned). */
export type CallOutcome = 'success' | 'failure' | 'ignored';

export interface CircuitSnapshot {
  readonly state: CircuitState;
  readonly failures: number;
  readonly epoch: number;
  /** When an open circuit starts admitting probes (epoch ms), else null (also while forced). */
  readonly openUntil: number | null;
  readonly probesInFlight: number;
  /** True while held open by `force('open')`, until `force('closed')`; absent reads false. */
  readonly forced?: boolean;
  /** With a rate window: the calls it holds now, and their failure and slow-call shares (0..1). */
  readonly windowCalls?: number;
  readonly failureRate?: number;
  readonly slowCallRate?: number;
}

/** What every operation names: the circuit, and the options its store decides with. */
export interface CircuitRequest {
  readonly circuit: string;
  readonly config: CircuitConfig;
}

/** `admit`: may a call run now? */
export type AdmitRequest = CircuitRequest;

/** Told of a transition a store makes on its own, later, without a call asking. */
export type TransitionListener = (transition: CircuitTransition) => void;

/** `record`: how a call admitted by `admit` ended. */
export interface RecordRequest extends CircuitRequest {
  /** The admission `admit` returned for this call, unchanged. */
  readonly admission: AdmittedCall;
  readonly outcome: CallOutcome;
  /** How long the call took (ms); given when `config.slowCallMs` is set. */
  readonly durationMs?: number;
  /**
   * When this outcome opens the circuit, the store tells this listener of the open -> half-open
   * transition as the recovery window ends (a timer), so that it is reported when it happens
   * rather than at the next call. A store that cannot may ignore it: `admit` then reports the
   * transition lazily, as before. Called at most once per transition, never for a forced state.
   */
  readonly onTransition?: TransitionListener;
}

/** `snapshot`: the state as it stands. */
export type SnapshotRequest = CircuitRequest;

/** `force`: sets the state by hand. */
export interface ForceRequest extends CircuitRequest {
  readonly state: 'open' | 'closed';
}

/**
 * Where circuit state lives. Each decision is one atomic call (a Redis store serves it with one
 * Lua script, one round trip, one clock), so processes sharing a store never race on
 * read-modify-write. Methods may answer synchronously; the engine then adds no microtask hop.
 *
 * Every operation takes one request object, so a field added to a request later never breaks a
 * custom store. A request is read-only, and the engine may reuse one request object for many
 * calls: read its fields during the operation, never keep the object. See
 * docs/custom-stores/circuit-breaker.md for what each operation must guarantee.
 *
 * The abstract class is also the Nest injection token:
 * `overrideProvider(CircuitBreakerStore).useValue(myStore)`.
 *
 * @publicApi
 */
export abstract class CircuitBreakerStore {
  /** Decides whether a call may run, moving open to half-open when the window has passed. */
  abstract admit(request: AdmitRequest): MaybePromise<CircuitAdmission>;

  /** Records the outcome of an admitted call; returns the transition it caused, if any. */
  abstract record(request: RecordRequest): MaybePromise<CircuitTransition | undefined>;

  /** The state as it stands, without side effects (an elapsed open window reads half-open). */
  abstract snapshot(request: SnapshotRequest): MaybePromise<CircuitSnapshot>;

  /**
   * Forces the circuit open, held until `force('closed')` (no recovery window, no probes), or
   * closed (failures reset).
   */
  abstract force(request: ForceRequest): MaybePromise<CircuitTransition | undefined>;
}
