import fc from 'fast-check';

/*
 * Pure reference models of the three store contracts, and generators of command sequences to
 * run against them. A model holds no clock and does no I/O: leases and TTLs are long enough that
 * nothing lapses during a run, so a store must answer exactly what its model answers. The runner
 * (test/redis/store-models.spec.ts) replays a sequence on a real store and on the model and
 * compares each answer, projected to what the contract fixes (`observe*` below).
 *
 * Tokens are symbolic here: the n-th token a run was issued is `#n`; the runner keeps the real
 * token strings in the same order.
 */

/** How a command names a token. */
export type TokenRef =
  /** The newest token issued for this name or key (whether or not it still holds anything). */
  | { readonly latest: true }
  /** The n-th token issued in the run, for any name or key; one not issued yet is unknown. */
  | { readonly issued: number }
  /** A token no store issued. */
  | { readonly unknown: number };

/** The tokens a run was issued, in order, each with the name or key it was issued for. */
export class TokenLedger {
  private readonly scopes: string[] = [];

  get size(): number {
    return this.scopes.length;
  }

  issue(scope: string): number {
    this.scopes.push(scope);
    return this.scopes.length - 1;
  }

  /** The index of the token `ref` names, or undefined for a token never issued. */
  resolve(ref: TokenRef, scope: string): number | undefined {
    if ('latest' in ref) {
      const index = this.scopes.lastIndexOf(scope);
      return index < 0 ? undefined : index;
    }
    if ('issued' in ref) return ref.issued < this.scopes.length ? ref.issued : undefined;
    return undefined;
  }
}

export function showRef(ref: TokenRef): string {
  if ('latest' in ref) return 'latest';
  if ('issued' in ref) return `#${ref.issued}`;
  return `unknown${ref.unknown}`;
}

const tokenRef: fc.Arbitrary<TokenRef> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ latest: true } as const) },
  { weight: 3, arbitrary: fc.nat(7).map((issued) => ({ issued })) },
  { weight: 1, arbitrary: fc.nat(1).map((unknown) => ({ unknown })) },
);

/** Gives a generated command a readable form in fast-check's counterexamples. */
function printable<C extends object>(show: (command: C) => string) {
  return (command: C): C => {
    const copy = { ...command };
    return Object.defineProperty(copy, fc.toStringMethod, { value: () => show(copy) });
  };
}

// ---------------------------------------------------------------------------------------------
// BackpressureStore
// ---------------------------------------------------------------------------------------------

/** Names are indexes into the run's fresh names; a token belongs to the name it was granted in. */
export type BackpressureCommand =
  | { readonly op: 'acquire'; readonly name: number }
  | { readonly op: 'release'; readonly name: number; readonly token: TokenRef }
  | { readonly op: 'renew'; readonly name: number; readonly token: TokenRef }
  | { readonly op: 'handOver'; readonly name: number; readonly token: TokenRef }
  | { readonly op: 'depth'; readonly name: number };

export interface BackpressureScenario {
  readonly capacity: number;
  readonly commands: readonly BackpressureCommand[];
}

export const BACKPRESSURE_NAMES = 2;

export function showBackpressureCommand(command: BackpressureCommand): string {
  const name = `n${command.name}`;
  if (command.op === 'acquire' || command.op === 'depth') return `${command.op}(${name})`;
  return `${command.op}(${name}, ${showRef(command.token)})`;
}

const bpName = fc.nat(BACKPRESSURE_NAMES - 1);

export const backpressureCommand: fc.Arbitrary<BackpressureCommand> = fc
  .oneof(
    { weight: 5, arbitrary: fc.record({ op: fc.constant('acquire' as const), name: bpName }) },
    {
      weight: 4,
      arbitrary: fc.record({ op: fc.constant('release' as const), name: bpName, token: tokenRef }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ op: fc.constant('renew' as const), name: bpName, token: tokenRef }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ op: fc.constant('handOver' as const), name: bpName, token: tokenRef }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('depth' as const), name: bpName }) },
  )
  .map(printable(showBackpressureCommand));

export const backpressureScenario: fc.Arbitrary<BackpressureScenario> = fc.record({
  capacity: fc.integer({ min: 1, max: 4 }),
  commands: fc.array(backpressureCommand, { maxLength: 40, size: 'medium' }),
});

/** What the contract fixes about an acquisition: granted or not, and the depth after it. */
export interface AcquireObservation {
  readonly granted: boolean;
  readonly depth: number;
}

export function observeAcquisition(acquisition: {
  granted: boolean;
  depth: number;
}): AcquireObservation {
  return { granted: acquisition.granted, depth: acquisition.depth };
}

/** Slots never lapse (long leases): a name holds the tokens granted and not yet released. */
export class BackpressureModel {
  readonly tokens = new TokenLedger();
  private readonly held = new Map<number, Set<number>>();

  constructor(readonly capacity: number) {}

  /** `token` is the ledger index of the slot granted, which the runner records. */
  acquire(name: number): AcquireObservation & { readonly token?: number } {
    const held = this.heldBy(name);
    if (held.size >= this.capacity) return { granted: false, depth: held.size };
    const token = this.tokens.issue(String(name));
    held.add(token);
    return { granted: true, depth: held.size, token };
  }

  /** A token the name does not hold (released twice, another name's, unknown) changes nothing. */
  release(name: number, token: number | undefined): number {
    const held = this.heldBy(name);
    if (token !== undefined) held.delete(token);
    return held.size;
  }

  renew(name: number, token: number | undefined): boolean {
    return token !== undefined && this.heldBy(name).has(token);
  }

  /**
   * Frees `token` (if the name holds it) and acquires for a waiter: a stale token frees
   * nothing, so its waiter gets a slot only if one is really free.
   */
  handOver(
    name: number,
    token: number | undefined,
  ): AcquireObservation & { readonly token?: number } {
    this.release(name, token);
    return this.acquire(name);
  }

  depth(name: number): number {
    return this.heldBy(name).size;
  }

  resolve(name: number, ref: TokenRef): number | undefined {
    return this.tokens.resolve(ref, String(name));
  }

  private heldBy(name: number): Set<number> {
    let held = this.held.get(name);
    if (held === undefined) this.held.set(name, (held = new Set()));
    return held;
  }
}

// ---------------------------------------------------------------------------------------------
// DedupeStore
// ---------------------------------------------------------------------------------------------

export const DEDUPE_KEYS = ['a', 'b', 'c'] as const;
export type DedupeKey = (typeof DEDUPE_KEYS)[number];

/** A TTL long enough that no cached result expires during a run. */
export const LONG_TTL_MS = 600_000;

/**
 * Values are numbers in commands, materialised by `dedupeValue` into JSON-safe values of several
 * shapes (the Redis store serialises them), all distinct, so "first result wins" is observable.
 */
export type DedupeCommand =
  | { readonly op: 'claim'; readonly key: DedupeKey }
  | {
      readonly op: 'complete';
      readonly key: DedupeKey;
      readonly token: TokenRef;
      readonly value: number;
      readonly ttlMs: number;
    }
  | { readonly op: 'fail'; readonly key: DedupeKey; readonly token: TokenRef }
  | { readonly op: 'renew'; readonly key: DedupeKey; readonly token: TokenRef }
  | { readonly op: 'forget'; readonly key: DedupeKey }
  | { readonly op: 'size' };

export function dedupeValue(n: number): unknown {
  switch (n % 5) {
    case 0:
      return n;
    case 1:
      return `value-${n}`;
    case 2:
      return { n, tags: ['x', n], nested: { ok: true, none: null } };
    case 3:
      return [n, `${n}`];
    default:
      return n === 4 ? undefined : { n };
  }
}

export function showDedupeCommand(command: DedupeCommand): string {
  switch (command.op) {
    case 'claim':
    case 'forget':
      return `${command.op}(${command.key})`;
    case 'complete': {
      const ttl = command.ttlMs === 0 ? 'ttl=0' : 'ttl=long';
      return `complete(${command.key}, ${showRef(command.token)}, v${command.value}, ${ttl})`;
    }
    case 'fail':
    case 'renew':
      return `${command.op}(${command.key}, ${showRef(command.token)})`;
    case 'size':
      return 'size()';
  }
}

const dedupeKey = fc.constantFrom(...DEDUPE_KEYS);

export const dedupeCommand: fc.Arbitrary<DedupeCommand> = fc
  .oneof(
    { weight: 5, arbitrary: fc.record({ op: fc.constant('claim' as const), key: dedupeKey }) },
    {
      weight: 4,
      arbitrary: fc.record({
        op: fc.constant('complete' as const),
        key: dedupeKey,
        token: tokenRef,
        value: fc.nat(19),
        ttlMs: fc.constantFrom(LONG_TTL_MS, 0),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ op: fc.constant('fail' as const), key: dedupeKey, token: tokenRef }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ op: fc.constant('renew' as const), key: dedupeKey, token: tokenRef }),
    },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('forget' as const), key: dedupeKey }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('size' as const) }) },
  )
  .map(printable(showDedupeCommand));

export const dedupeScenario: fc.Arbitrary<readonly DedupeCommand[]> = fc.array(dedupeCommand, {
  maxLength: 40,
  size: 'medium',
});

/** What the contract fixes about a claim: its kind, and the value of a cached one. */
export type ClaimObservation =
  | { readonly kind: 'owner' }
  | { readonly kind: 'in-progress' }
  | { readonly kind: 'cached'; readonly value: unknown };

export function observeClaim(claim: { kind: string; value?: unknown }): ClaimObservation {
  if (claim.kind === 'cached') return { kind: 'cached', value: claim.value };
  return { kind: claim.kind as 'owner' | 'in-progress' };
}

type DedupeEntry =
  | { readonly kind: 'claimed'; readonly token: number }
  | { readonly kind: 'cached'; readonly value: number };

/**
 * Per key: nothing, a claim held by one token, or a cached result (long TTL). `complete` caches
 * (or, with ttl 0, just ends the claim) only when its token still holds the claim; a cached
 * result is never replaced (claim answers `cached`, so no later owner exists while it lives);
 * `fail` ends the claim of its own token; `forget` drops claim and result alike.
 */
export class DedupeModel {
  readonly tokens = new TokenLedger();
  private readonly entries = new Map<DedupeKey, DedupeEntry>();

  /** `token` is the ledger index of the claim granted, which the runner records. */
  claim(key: DedupeKey): ClaimObservation & { readonly token?: number } {
    const entry = this.entries.get(key);
    if (entry?.kind === 'cached') return { kind: 'cached', value: dedupeValue(entry.value) };
    if (entry?.kind === 'claimed') return { kind: 'in-progress' };
    const token = this.tokens.issue(key);
    this.entries.set(key, { kind: 'claimed', token });
    return { kind: 'owner', token };
  }

  complete(key: DedupeKey, token: number | undefined, value: number, ttlMs: number): void {
    if (!this.holds(key, token)) return;
    if (ttlMs > 0) this.entries.set(key, { kind: 'cached', value });
    else this.entries.delete(key);
  }

  fail(key: DedupeKey, token: number | undefined): void {
    if (this.holds(key, token)) this.entries.delete(key);
  }

  renew(key: DedupeKey, token: number | undefined): boolean {
    return this.holds(key, token);
  }

  forget(key: DedupeKey): void {
    this.entries.delete(key);
  }

  size(): number {
    return this.entries.size;
  }

  cached(key: DedupeKey): boolean {
    return this.entries.get(key)?.kind === 'cached';
  }

  resolve(key: DedupeKey, ref: TokenRef): number | undefined {
    return this.tokens.resolve(ref, key);
  }

  private holds(key: DedupeKey, token: number | undefined): boolean {
    const entry = this.entries.get(key);
    return token !== undefined && entry?.kind === 'claimed' && entry.token === token;
  }
}

// ---------------------------------------------------------------------------------------------
// CircuitBreakerStore
// ---------------------------------------------------------------------------------------------

export type ModelCircuitState = 'closed' | 'open' | 'half-open';
export type Outcome = 'success' | 'failure' | 'ignored';

/** `admission`: an index into the run's admitted calls (modulo their count), or the newest. */
export type CircuitCommand =
  | { readonly op: 'admit' }
  | { readonly op: 'record'; readonly admission: number | 'latest'; readonly outcome: Outcome }
  | { readonly op: 'force'; readonly to: 'open' | 'closed' }
  | { readonly op: 'snapshot' };

/** A window long enough that an open circuit stays open for the whole run. */
export const LONG_WINDOW_MS = 600_000;

/**
 * `recoveryWindowMs` is either long (open stays open: admit rejects) or 0, which is just as
 * time-independent: the window has always passed, so an open circuit reads half-open and the next
 * admit moves it there and admits a probe. Probe leases are long, so probes never lapse.
 */
export interface CircuitScenario {
  readonly threshold: number;
  readonly halfOpenMaxCalls: number;
  readonly recoveryWindowMs: typeof LONG_WINDOW_MS | 0;
  readonly commands: readonly CircuitCommand[];
}

export function showCircuitCommand(command: CircuitCommand): string {
  switch (command.op) {
    case 'admit':
      return 'admit()';
    case 'record': {
      const which = command.admission === 'latest' ? 'latest' : `@${command.admission}`;
      return `record(${which}, ${command.outcome})`;
    }
    case 'force':
      return `force(${command.to})`;
    case 'snapshot':
      return 'snapshot()';
  }
}

export const circuitCommand: fc.Arbitrary<CircuitCommand> = fc
  .oneof(
    { weight: 5, arbitrary: fc.constant({ op: 'admit' as const }) },
    {
      weight: 6,
      arbitrary: fc.record({
        op: fc.constant('record' as const),
        admission: fc.oneof(fc.constant('latest' as const), fc.nat(9)),
        outcome: fc.constantFrom<Outcome>('failure', 'success', 'ignored'),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('force' as const),
        to: fc.constantFrom('open' as const, 'closed' as const),
      }),
    },
    { weight: 1, arbitrary: fc.constant({ op: 'snapshot' as const }) },
  )
  .map(printable(showCircuitCommand));

export const circuitScenario: fc.Arbitrary<CircuitScenario> = fc.record({
  threshold: fc.integer({ min: 1, max: 4 }),
  halfOpenMaxCalls: fc.integer({ min: 1, max: 3 }),
  recoveryWindowMs: fc.constantFrom(LONG_WINDOW_MS, 0 as const),
  commands: fc.array(circuitCommand, { maxLength: 40, size: 'medium' }),
});

export interface TransitionObservation {
  readonly from: ModelCircuitState;
  readonly to: ModelCircuitState;
}

/** Epochs are relative to the circuit's first epoch (the Redis store starts at server time). */
export type AdmitObservation =
  | {
      readonly admitted: true;
      readonly probe: boolean;
      readonly epoch: number;
      readonly transition?: TransitionObservation;
    }
  | { readonly admitted: false; readonly transition?: TransitionObservation };

export interface SnapshotObservation {
  readonly state: ModelCircuitState;
  readonly failures: number;
  readonly epoch: number;
  /** Whether `openUntil` is set (it is, exactly while open and not held open by force). */
  readonly open: boolean;
  readonly probesInFlight: number;
  /** Held open by `force('open')` until `force('closed')`. */
  readonly forced: boolean;
}

export function observeTransition(
  transition: { from: string; to: string } | undefined,
): TransitionObservation | undefined {
  if (transition === undefined) return undefined;
  return {
    from: transition.from as ModelCircuitState,
    to: transition.to as ModelCircuitState,
  };
}

export function observeAdmission(
  admission:
    | { admitted: true; probe: boolean; epoch: number; transition?: { from: string; to: string } }
    | { admitted: false; transition?: { from: string; to: string } },
  baseEpoch: number,
): AdmitObservation {
  const transition = observeTransition(admission.transition);
  const withTransition = transition === undefined ? {} : { transition };
  if (!admission.admitted) return { admitted: false, ...withTransition };
  const { probe, epoch } = admission;
  return { admitted: true, probe, epoch: epoch - baseEpoch, ...withTransition };
}

export function observeSnapshot(
  snapshot: {
    state: string;
    failures: number;
    epoch: number;
    openUntil: number | null;
    probesInFlight: number;
    forced?: boolean;
  },
  baseEpoch: number,
): SnapshotObservation {
  return {
    state: snapshot.state as ModelCircuitState,
    failures: snapshot.failures,
    epoch: snapshot.epoch - baseEpoch,
    open: snapshot.openUntil !== null,
    probesInFlight: snapshot.probesInFlight,
    forced: snapshot.forced === true,
  };
}

interface ModelAdmission {
  readonly epoch: number;
  readonly probe: boolean;
}

/** The answer to `record`: `stale` outcomes change nothing and report no transition. */
export interface RecordResult {
  readonly stale: boolean;
  readonly transition?: TransitionObservation;
}

/**
 * Consecutive failures open a closed circuit at `threshold`; an outcome counts only in the epoch
 * its call was admitted in (every transition starts a new epoch); half-open admits at most
 * `halfOpenMaxCalls` probes, a probe's outcome frees its slot, a probe success closes and a probe
 * failure re-opens. `force('open')` holds the circuit open (no window, no probes) until
 * `force('closed')`; on an open circuit it is no transition (same epoch). `force('closed')`
 * always resets the failures.
 */
export class CircuitModel {
  state: ModelCircuitState = 'closed';
  failures = 0;
  epoch = 0;
  forced = false;
  private readonly probes = new Set<number>();
  private readonly admissions: ModelAdmission[] = [];

  constructor(
    readonly threshold: number,
    readonly halfOpenMaxCalls: number,
    /** Whether the recovery window has always passed (`recoveryWindowMs` 0). */
    readonly windowElapsed: boolean,
  ) {}

  get admitted(): number {
    return this.admissions.length;
  }

  /** The index of the admitted call `ref` names, or undefined while none was admitted. */
  resolve(ref: number | 'latest'): number | undefined {
    if (this.admissions.length === 0) return undefined;
    return ref === 'latest' ? this.admissions.length - 1 : ref % this.admissions.length;
  }

  admit(): AdmitObservation {
    if (this.state === 'closed') return this.grant(false);
    let transition: TransitionObservation | undefined;
    if (this.state === 'open') {
      if (!this.windowElapsed || this.forced) return { admitted: false };
      transition = this.moveTo('half-open');
    }
    const withTransition = transition === undefined ? {} : { transition };
    if (this.probes.size >= this.halfOpenMaxCalls) return { admitted: false, ...withTransition };
    this.probes.add(this.admissions.length);
    return { ...this.grant(true), ...withTransition };
  }

  record(index: number, outcome: Outcome): RecordResult {
    const admission = this.admissions[index];
    if (admission.epoch !== this.epoch) return { stale: true };
    if (admission.probe) this.probes.delete(index);
    if (outcome === 'success') {
      this.failures = 0;
      if (this.state !== 'half-open') return { stale: false };
      return { stale: false, transition: this.moveTo('closed') };
    }
    if (outcome === 'failure') {
      this.failures++;
      if (this.state === 'closed' && this.failures < this.threshold) return { stale: false };
      return { stale: false, transition: this.moveTo('open') };
    }
    return { stale: false };
  }

  force(to: 'open' | 'closed'): TransitionObservation | undefined {
    if (to === 'closed') this.failures = 0;
    // Forcing the state a circuit is in is no transition (an open one is held from now on).
    const transition = this.state !== to ? this.moveTo(to) : undefined;
    if (to === 'open') this.forced = true;
    return transition;
  }

  snapshot(): SnapshotObservation {
    const open = this.state === 'open' && !this.forced;
    return {
      state: open && this.windowElapsed ? 'half-open' : this.state,
      failures: this.failures,
      epoch: this.epoch,
      open,
      probesInFlight: this.state === 'half-open' ? this.probes.size : 0,
      forced: this.forced,
    };
  }

  private grant(probe: boolean): AdmitObservation {
    this.admissions.push({ epoch: this.epoch, probe });
    return { admitted: true, probe, epoch: this.epoch };
  }

  private moveTo(to: ModelCircuitState): TransitionObservation {
    const from = this.state;
    this.state = to;
    this.epoch++;
    this.forced = false;
    this.probes.clear();
    return { from, to };
  }
}

// ---------------------------------------------------------------------------------------------
// CircuitBreakerStore: failure-rate and slow-call windows (a closed circuit opening on rates)
// ---------------------------------------------------------------------------------------------

/** One call of a run: how long before it the clock moves, how it ends and how long it took. */
export interface WindowCall {
  readonly advanceMs: number;
  readonly outcome: Outcome;
  readonly durationMs: number;
}

export interface WindowScenario {
  readonly failureRateThreshold?: number;
  readonly slowCallRateThreshold?: number;
  readonly slowCallMs: number;
  readonly minimumCalls: number;
  /** A count window of this size, or (when `windowMs` is set) a time window. */
  readonly windowSize: number;
  readonly windowMs?: number;
  readonly calls: readonly WindowCall[];
}

export const windowScenario: fc.Arbitrary<WindowScenario> = fc
  .record({
    rates: fc.constantFrom('failure', 'slow', 'both'),
    failureRateThreshold: fc.constantFrom(0.1, 0.25, 0.3, 0.5, 0.7, 1),
    slowCallRateThreshold: fc.constantFrom(0.2, 0.5, 1),
    slowCallMs: fc.constantFrom(0, 50, 100),
    minimumCalls: fc.integer({ min: 1, max: 6 }),
    extraSize: fc.integer({ min: 0, max: 6 }),
    windowMs: fc.option(fc.constantFrom(100, 1000, 1500), { nil: undefined }),
    calls: fc.array(
      fc.record({
        advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 400 })),
        outcome: fc.constantFrom<Outcome>('failure', 'success', 'success', 'ignored'),
        durationMs: fc.integer({ min: 0, max: 200 }),
      }),
      { maxLength: 40 },
    ),
  })
  .map(
    ({ rates, failureRateThreshold, slowCallRateThreshold, minimumCalls, extraSize, ...rest }) => ({
      ...rest,
      minimumCalls,
      windowSize: minimumCalls + extraSize,
      ...(rates !== 'slow' ? { failureRateThreshold } : {}),
      ...(rates !== 'failure' ? { slowCallRateThreshold } : {}),
    }),
  );

export interface WindowObservation {
  readonly opened?: 'failure-rate' | 'slow-call-rate';
  readonly calls: number;
  readonly failures: number;
  readonly slow: number;
}

/**
 * The reference: every outcome of the closed circuit kept in a list, the window recomputed from
 * it after each one. A count window holds the last `windowSize` outcomes; a time window the
 * outcomes whose bucket floor(t / (windowMs / 10)) is one of the last 10 up to now. It opens once
 * the window holds `minimumCalls` and a share reaches its threshold (failure rate checked first);
 * ignored outcomes are not counted; a call is slow when it took longer than `slowCallMs`.
 */
export class WindowModel {
  private readonly outcomes: Array<{ at: number; failure: boolean; slow: boolean }> = [];
  open = false;

  constructor(private readonly scenario: WindowScenario) {}

  record(now: number, outcome: Outcome, durationMs: number): WindowObservation {
    if (outcome !== 'ignored') {
      const slow = durationMs > this.scenario.slowCallMs;
      this.outcomes.push({ at: now, failure: outcome === 'failure', slow });
    }
    const inWindow = this.window(now);
    const calls = inWindow.length;
    const failures = inWindow.filter((o) => o.failure).length;
    const slow = inWindow.filter((o) => o.slow).length;
    const observation = { calls, failures, slow };
    if (outcome === 'ignored' || calls < this.scenario.minimumCalls) return observation;
    const { failureRateThreshold: failureRate, slowCallRateThreshold: slowRate } = this.scenario;
    let opened: WindowObservation['opened'];
    if (failureRate !== undefined && failures / calls >= failureRate) opened = 'failure-rate';
    else if (slowRate !== undefined && slow / calls >= slowRate) opened = 'slow-call-rate';
    if (opened === undefined) return observation;
    this.open = true;
    return { ...observation, opened };
  }

  private window(now: number) {
    const { windowMs, windowSize } = this.scenario;
    if (windowMs === undefined) return this.outcomes.slice(-windowSize);
    const width = windowMs / 10;
    const current = Math.floor(now / width);
    return this.outcomes.filter((o) => {
      const bucket = Math.floor(o.at / width);
      return bucket > current - 10 && bucket <= current;
    });
  }
}
