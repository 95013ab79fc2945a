import { systemClock, type Clock } from '../core/clock.js';
import { silentSink, wantsNotable, type CircuitState, type EventSink } from '../core/events.js';
import { isPromiseLike, type MaybePromise } from '../core/maybe-promise.js';
import { withoutStack } from '../core/orchestrator.error.js';
import { checkString, definedOnly } from '../core/validate.js';
import {
  resolveCircuitBreakerOptions,
  type CircuitBreakerOptions,
  type ResolvedCircuitBreakerOptions,
} from './circuit-breaker-options.js';
import type {
  AdmittedCall,
  CallOutcome,
  CircuitAdmission,
  CircuitBreakerStore,
  CircuitConfig,
  CircuitRequest,
  CircuitSnapshot,
  CircuitTransition,
} from './circuit-breaker.store.js';
import { CircuitOpenError } from './circuit-open.error.js';
import { InMemoryCircuitBreakerStore } from './in-memory-circuit-breaker.store.js';

export interface CircuitBreakerRuntime {
  clock?: Clock;
  events?: EventSink;
}

type Rejection = Extract<CircuitAdmission, { admitted: false }>;

/**
 * A circuit breaker over a store: closed until `threshold` consecutive failures, then open for
 * `recoveryWindowMs`, then half-open with at most `halfOpenMaxCalls` probes; a probe's success
 * closes it, a probe's failure opens it again. The open -> half-open event is reported as the
 * window ends (the store's timer), not at the next call. `open()` holds the circuit open until
 * `close()`. Pure: no Nest, clock injected.
 *
 * @publicApi
 * @example
 * const breaker = new CircuitBreakerPolicy('openai', { threshold: 3, recoveryWindowMs: 10_000 });
 * const answer = await breaker.call(() => client.chat(prompt));
 */
export class CircuitBreakerPolicy {
  readonly options: ResolvedCircuitBreakerOptions;
  readonly config: CircuitConfig;
  readonly store: CircuitBreakerStore;
  /** One request object for every admit and snapshot: the closed path allocates nothing. */
  private readonly request: CircuitRequest;
  /** An `isFailure` that throws counts the call as a failure, and its outcome is still recorded. */
  private countsAsFailure(error: unknown): boolean {
    try {
      return this.options.isFailure(error);
    } catch {
      return true;
    }
  }

  private readonly events: EventSink;
  private readonly clock: Clock;
  /** Whether calls are timed (`slowCallMs` is set): each call then gets its own settler. */
  private readonly timesCalls: boolean;
  private settler: Settler | undefined;
  /** Reports the transitions a store makes on its own (the recovery window ending). */
  private readonly onTransition = (transition: CircuitTransition): void => this.report(transition);

  constructor(
    readonly circuit: string,
    options: CircuitBreakerOptions = {},
    store?: CircuitBreakerStore,
    runtime: CircuitBreakerRuntime = {},
  ) {
    checkString('CircuitBreakerPolicy: circuit', circuit);
    this.options = resolveCircuitBreakerOptions(options, 'CircuitBreakerPolicy');
    this.config = storeConfig(this.options);
    this.clock = runtime.clock ?? systemClock;
    this.timesCalls = this.config.slowCallMs !== undefined;
    this.request = { circuit, config: this.config };
    this.store = store ?? new InMemoryCircuitBreakerStore(this.clock);
    this.events = runtime.events ?? silentSink;
  }

  /**
   * Runs `fn` if the circuit admits it and records the outcome.
   * @throws {CircuitOpenError} (as a rejection) when the circuit refuses the call
   */
  call<T>(fn: () => T | Promise<T>): Promise<T> {
    const admission = this.admit();
    if (isPromiseLike(admission)) return this.runWhenAdmitted(admission, fn);
    return this.run(admission, fn);
  }

  /**
   * Asks the store whether a call may run; reports any transition it caused.
   *
   * Here and in `call`, `settle`, the closures of the asynchronous (Redis) branch live in
   * separate methods: a closure in a function body makes V8 allocate its context on every call,
   * even when the synchronous (in-memory) branch never creates the closure.
   */
  admit(): MaybePromise<CircuitAdmission> {
    const admission = this.store.admit(this.request);
    if (isPromiseLike(admission)) return this.observeWhenAnswered(admission);
    return admission.admitted && admission.transition === undefined
      ? admission
      : this.observe(admission);
  }

  /**
   * Records how an admitted call ended, `startedAt` (clock ms) telling its duration when calls
   * are timed. Never throws: a store failure becomes an event.
   */
  settle(admission: AdmittedCall, outcome: CallOutcome, startedAt?: number): void {
    try {
      const { circuit, config, onTransition } = this;
      const durationMs = startedAt === undefined ? undefined : this.since(startedAt);
      const request = { circuit, config, admission, outcome, onTransition, durationMs };
      const transition = this.store.record(request);
      if (isPromiseLike(transition)) this.reportWhenRecorded(transition);
      else if (transition !== undefined) this.report(transition);
    } catch (error) {
      this.storeError('record', error);
    }
  }

  /** Settles from an error, applying the `isFailure` filter. */
  settleError(admission: AdmittedCall, error: unknown, startedAt?: number): void {
    this.settle(admission, this.countsAsFailure(error) ? 'failure' : 'ignored', startedAt);
  }

  /** When a call starts, if calls are timed (for `settle`'s `startedAt`). */
  startTime(): number | undefined {
    return this.timesCalls ? this.clock.now() : undefined;
  }

  private since(startedAt: number): number {
    return Math.max(0, this.clock.now() - startedAt);
  }

  /**
   * @internal The outcome callbacks of an admitted call. While the circuit stays closed every
   * call shares one admission, so its callbacks are made once and reused: the hot path allocates
   * no closures.
   */
  settlerFor(admission: AdmittedCall): Settler {
    if (this.timesCalls) return new Settler(this, admission, this.clock.now());
    const cached = this.settler;
    if (cached !== undefined && cached.admission === admission) return cached;
    const settler = new Settler(this, admission);
    // A probe's admission is its own; caching it would only evict the closed one.
    if (!admission.probe) this.settler = settler;
    return settler;
  }

  rejection(admission: Rejection): CircuitOpenError {
    return withoutStack(() => new CircuitOpenError(this.circuit, admission.retryAfterMs));
  }

  /**
   * A promise that rejects with the refusal one microtask later, once the caller has attached
   * its handler: a promise rejected with no handler yet costs Node's unhandled-rejection
   * bookkeeping (about 600 ns of a 1.5 µs refusal), and a refusal is the hot path of an open
   * circuit.
   */
  reject<T>(admission: Rejection): Promise<T> {
    const error = this.rejection(admission);
    return new Promise<T>((_, reject) => queueMicrotask(() => reject(error)));
  }

  async state(): Promise<CircuitState> {
    return (await this.snapshot()).state;
  }

  async failureCount(): Promise<number> {
    return (await this.snapshot()).failures;
  }

  async snapshot(): Promise<CircuitSnapshot> {
    return this.store.snapshot(this.request);
  }

  /**
   * Opens the circuit by hand and holds it open (no probes, whatever `recoveryWindowMs` says)
   * until `close()`: a maintenance switch.
   */
  async open(): Promise<void> {
    this.report(await this.store.force({ ...this.request, state: 'open' }));
  }

  /** Closes the circuit by hand and resets its failures. */
  async close(): Promise<void> {
    this.report(await this.store.force({ ...this.request, state: 'closed' }));
  }

  private run<T>(admission: CircuitAdmission, fn: () => T | Promise<T>): Promise<T> {
    if (!admission.admitted) return this.reject(admission);
    let result: T | Promise<T>;
    try {
      result = fn();
    } catch (error) {
      this.settleError(admission, error);
      return Promise.reject(error);
    }
    const settle = this.settlerFor(admission);
    return Promise.resolve(result).then(settle.success, settle.failure) as Promise<T>;
  }

  private runWhenAdmitted<T>(
    admission: Promise<CircuitAdmission>,
    fn: () => T | Promise<T>,
  ): Promise<T> {
    return admission.then((a) => this.run(a, fn));
  }

  private observeWhenAnswered(admission: Promise<CircuitAdmission>): Promise<CircuitAdmission> {
    return admission.then((a) => this.observe(a));
  }

  private reportWhenRecorded(transition: Promise<CircuitTransition | undefined>): void {
    transition.then(
      (t) => this.report(t),
      (error) => this.storeError('record', error),
    );
  }

  private observe(admission: CircuitAdmission): CircuitAdmission {
    this.report(admission.transition);
    if (!admission.admitted && this.events.active) {
      const { retryAfterMs } = admission;
      this.events.emit({
        type: 'circuit.rejected',
        circuit: this.circuit,
        retryAfterMs,
        at: Date.now(),
      });
    }
    return admission;
  }

  private report(transition: CircuitTransition | undefined): void {
    if (transition === undefined || !wantsNotable(this.events)) return;
    this.events.emit({ type: 'circuit.state', circuit: this.circuit, ...transition });
  }

  private storeError(operation: string, error: unknown): void {
    if (!this.events.active) return;
    this.events.emit({
      type: 'store.error',
      primitive: 'circuitBreaker',
      name: this.circuit,
      operation,
      error,
    });
  }
}

/** @internal Records how one admission's call ended, then passes its value or error on. */
export class Settler {
  constructor(
    private readonly policy: CircuitBreakerPolicy,
    readonly admission: AdmittedCall,
    /** When the call started, if calls are timed. */
    readonly startedAt?: number,
  ) {}

  readonly success = <T>(value: T): T => {
    this.policy.settle(this.admission, 'success', this.startedAt);
    return value;
  };

  readonly failure = (error: unknown): never => {
    this.policy.settleError(this.admission, error, this.startedAt);
    throw error;
  };
}

/** What the store needs of the options; the window's fields only when the breaker uses rates. */
function storeConfig(options: ResolvedCircuitBreakerOptions): CircuitConfig {
  const { threshold, recoveryWindowMs, halfOpenMaxCalls, probeLeaseMs } = options;
  const config: CircuitConfig = { threshold, recoveryWindowMs, halfOpenMaxCalls, probeLeaseMs };
  const { failureRateThreshold, slowCallRateThreshold, slowCallMs } = options;
  if (failureRateThreshold === undefined && slowCallRateThreshold === undefined) return config;
  const { minimumCalls, windowMs, syncIntervalMs } = options;
  return {
    ...config,
    syncIntervalMs,
    ...definedOnly({ failureRateThreshold, slowCallRateThreshold, slowCallMs, windowMs }),
    minimumCalls,
    ...(windowMs === undefined ? { windowSize: options.windowSize } : {}),
  };
}
