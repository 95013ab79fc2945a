import { systemClock, type Clock } from '../core/clock.js';
import { silentSink, type EventSink } from '../core/events.js';
import type { Call, Step } from '../core/layer.js';
import { LeaseRenewer, RenewedLease } from '../core/lease-renewer.js';
import { isPromiseLike, type MaybePromise } from '../core/maybe-promise.js';
import { describeValue } from '../core/validate.js';
import { defaultDedupeKey } from './dedupe-key.js';
import {
  DEDUPE_STREAM_CACHE_LIMIT,
  resolveDedupeOptions,
  type DedupeOptions,
  type ResolvedDedupeOptions,
} from './dedupe-options.js';
import type { DedupeClaim, DedupeConfig, DedupeSettlement, DedupeStore } from './dedupe.store.js';
import { InMemoryDedupeStore } from './in-memory-dedupe.store.js';
import { SharedAbort } from './shared-abort.js';
import {
  RecordedStream,
  StreamFlight,
  type StreamCursor,
  type StreamEnding,
} from './shared-stream.js';

/**
 * What a `Deduplicator` gets from its application (the decorator passes all three).
 *
 * @publicApi
 */

/** A dedupe key function, as in `DedupeOptions.key`. */
type DedupeKeyFn = (...args: any[]) => string;

/** Appended to a stream call's key: see `keyOf`. */
const STREAM_KEY_SUFFIX = ':stream';

export interface DedupeRuntime {
  clock?: Clock;
  events?: EventSink;
  /** The namespace of the keys and the name in events; the decorator passes its dedupe name. */
  name?: string;
}

/**
 * The seed's answer to `checkAndRegister`: run it (`new`, the key is now yours until `complete`
 * or `fail`), use the cached value, or someone else is running it.
 *
 * @publicApi
 */
export type DeduplicationResult<V = unknown> =
  | { readonly kind: 'new' }
  | { readonly kind: 'cached'; readonly value: V }
  | { readonly kind: 'in-progress' };

/**
 * A claim this deduplicator owns, until `ended`: a lease renewed until then (unless the store
 * failed and the claim is uncoordinated), so holding it allocates nothing more.
 */
class OwnedClaim extends RenewedLease {
  ended = false;

  constructor(
    private readonly deduplicator: Deduplicator,
    readonly key: string,
    public token: string,
  ) {
    super();
  }

  renew(): MaybePromise<boolean> {
    return this.deduplicator.renewClaim(this);
  }
}

/**
 * A promise execution shared by every concurrent caller with its key. It is also the claim its
 * execution runs under, once it owns one: one object per execution.
 */
class PromiseFlight extends OwnedClaim {
  promise!: Promise<unknown>;
  abort: SharedAbort | undefined = undefined;
}

type Flight = PromiseFlight | StreamFlight;

/** Where a caller who found someone else's claim ends up once that claim is over. */
type AfterWait = { kind: 'value'; value: unknown } | { kind: 'owner'; token: string };

/** A claim the store could not make (it failed): run anyway, coordinated only locally. */
const UNCOORDINATED_TOKEN = '';
const UNCOORDINATED: DedupeClaim = { kind: 'owner', token: UNCOORDINATED_TOKEN };
const NEW: DeduplicationResult<never> = { kind: 'new' };
/**
 * Keeps the flights map from emptying: V8 shrinks a hash table that a delete empties (a runtime
 * call and a new table), which every sequential execution would pay.
 */
const NEVER_EMPTY = Symbol('never empty');
const IN_PROGRESS: DeduplicationResult<never> = { kind: 'in-progress' };
/** How often a caller re-asks about a claim the store cannot notify it about. */
const REMOTE_POLL_MIN_MS = 50;
const REMOTE_POLL_MAX_MS = 1_000;

/**
 * Single flight plus a TTL cache over a store. Concurrent calls with one key share one execution
 * (joiners await the leader's promise; nobody polls); a completed result is served from the
 * cache for `ttlMs`; a failure is never cached: every caller sharing it gets the error and the
 * next call runs again. Pure: no Nest, clock injected.
 *
 * Also the seed's primitive (`checkAndRegister`, `complete`, `fail`, `dedupMany`), for callers
 * who run the work themselves. Without a `store` each instance has a private in-memory one.
 *
 * @publicApi
 * @example
 * const dedupe = new Deduplicator({ ttlMs: 60_000 });
 * const seen = await dedupe.checkAndRegister(promptHash);
 * if (seen.kind === 'cached') return seen.value;
 */
export class Deduplicator {
  readonly options: ResolvedDedupeOptions;
  /** The namespace of this deduplicator's keys in its store. */
  readonly name: string;
  readonly store: DedupeStore;
  readonly clock: Clock;
  private readonly config: DedupeConfig;
  private readonly events: EventSink;
  private readonly flights = new Map<string | symbol, Flight>();
  /** Claims taken through `checkAndRegister`, by key, until `complete` or `fail`. */
  private readonly claims = new Map<string, string>();
  private readonly renewer: LeaseRenewer;

  constructor(options: DedupeOptions = {}, store?: DedupeStore, runtime: DedupeRuntime = {}) {
    this.options = resolveDedupeOptions(options, 'Deduplicator');
    this.name = runtime.name ?? this.options.name ?? 'dedupe';
    this.clock = runtime.clock ?? systemClock;
    this.store = store ?? new InMemoryDedupeStore(this.clock);
    this.events = runtime.events ?? silentSink;
    this.config = { leaseMs: this.options.leaseMs, maxEntries: this.options.maxEntries };
    this.renewer = new LeaseRenewer(this.options.leaseMs, (error) =>
      this.storeError('renew', error),
    );
    this.flights.set(NEVER_EMPTY, new PromiseFlight(this, '', UNCOORDINATED_TOKEN));
  }

  // ── The seed's primitive ────────────────────────────────────────────────────────────────

  /**
   * Whether `key` is new (and now claimed by the caller), cached, or in progress elsewhere.
   * Call `complete` or `fail` after a `new`, within `leaseMs`: the claim is not renewed, and
   * once it lapsed it is free for others and a late `complete` caches nothing.
   */
  async checkAndRegister<V = unknown>(key: string): Promise<DeduplicationResult<V>> {
    const claim = await this.store.claim(this.name, key, this.config);
    if (claim.kind === 'owner') {
      this.claims.set(key, claim.token);
      return NEW;
    }
    return claim.kind === 'cached' ? { kind: 'cached', value: claim.value as V } : IN_PROGRESS;
  }

  /**
   * Ends the caller's claim on `key` with `value`, cached for `ttlMs` (`0`: expired at once).
   * Without a claim (cache warming) it claims first; a key held by someone else is left to them.
   */
  async complete(key: string, value: unknown): Promise<void> {
    let token = this.claims.get(key);
    this.claims.delete(key);
    if (token === undefined) {
      const claim = await this.store.claim(this.name, key, this.config);
      if (claim.kind !== 'owner') return;
      token = claim.token;
    }
    await this.store.complete(this.name, key, token, value, this.options.ttlMs, this.config);
  }

  /** Ends the caller's claim on `key` without caching anything, so the next check is new. */
  async fail(key: string): Promise<void> {
    const token = this.claims.get(key);
    if (token === undefined) return;
    this.claims.delete(key);
    await this.store.fail(this.name, key, token);
  }

  /** `checkAndRegister` for each key, in order (a key listed twice is in progress the second time). */
  async dedupMany<V = unknown>(keys: readonly string[]): Promise<DeduplicationResult<V>[]> {
    const results: DeduplicationResult<V>[] = [];
    for (const key of keys) results.push(await this.checkAndRegister<V>(key));
    return results;
  }

  /**
   * Forgets `key`: its cached result and claim are dropped, and the next call runs again.
   * Callers already sharing an execution still get its result, which is not cached. A claim
   * taken with `checkAndRegister` keeps its token here, so that its `complete` is refused too.
   */
  async forget(key: string): Promise<void> {
    this.flights.delete(key);
    await this.store.forget(this.name, key);
  }

  /** How many entries (cached results and claims) this deduplicator's namespace holds. */
  async size(): Promise<number> {
    return this.store.size(this.name);
  }

  // ── The engine behind @Dedupe ───────────────────────────────────────────────────────────

  /**
   * @internal The call's key, computed once per call (an outer layer may have asked first), by
   * the method's own `keyFn`, or as the hash of the arguments when it has none.
   */
  keyOf(call: Call, keyFn: DedupeKeyFn | undefined): string {
    if (call.dedupeKey !== undefined) return call.dedupeKey;
    const key = keyFn !== undefined ? keyFn(...call.args) : defaultDedupeKey(call.args);
    if (typeof key !== 'string') {
      throw new TypeError(
        `dedupe "${this.name}": key should return a string, got ${describeValue(key)}`,
      );
    }
    // A stream and a single result under one key are different executions (two methods that
    // share a dedupe name but not a return kind): keep them apart.
    call.dedupeKey = call.stream === true ? `${key}${STREAM_KEY_SUFFIX}` : key;
    return call.dedupeKey;
  }

  /** True when a call with `key` would join a running execution or be served from the cache. */
  answersWithoutExecution(key: string): boolean {
    const flight = this.flights.get(key);
    if (flight !== undefined) return flight instanceof PromiseFlight || flight.joinable;
    return this.store.peekCached?.(this.name, key) === true;
  }

  /** Runs `next.promise(call)` once for every concurrent call with `key`. */
  execute(key: string, call: Call, next: Step): Promise<unknown> {
    const flight = this.flights.get(key);
    if (flight instanceof PromiseFlight) {
      this.hit('in-flight');
      flight.abort?.join(call.args);
      return flight.promise;
    }
    if (flight !== undefined) return next.promise(call); // a stream under this key: not shareable
    return this.lead(key, call, next);
  }

  /** A consumer of the one shared execution of `next.stream(call)` for `key`. */
  shareStream(key: string, call: Call, next: Step): AsyncIterator<unknown> {
    const flight = this.flights.get(key);
    if (flight instanceof StreamFlight && flight.joinable) {
      this.hit('in-flight');
      flight.abort?.join(call.args);
      return flight.attach();
    }
    if (flight !== undefined) return next.stream(call)[Symbol.asyncIterator]();
    return this.leadStream(key, call, next);
  }

  private lead(key: string, call: Call, next: Step): Promise<unknown> {
    const claim = this.claim(key);
    if (!isPromiseLike(claim) && claim.kind === 'cached') {
      this.hit('cache');
      return Promise.resolve(claim.value);
    }
    const flight = new PromiseFlight(this, key, UNCOORDINATED_TOKEN);
    this.flights.set(key, flight);
    const run = this.withSharedAbort(flight, call);
    flight.promise = isPromiseLike(claim)
      ? this.decideWhenClaimed(claim, flight, run, next)
      : this.decide(flight, claim, run, next);
    return flight.promise;
  }

  // Apart from their callers, so that their closures cost nothing on the synchronous path: a
  // closure anywhere in a function body makes V8 allocate its context on every call.
  private decideWhenClaimed(
    claim: PromiseLike<DedupeClaim>,
    flight: PromiseFlight,
    call: Call,
    next: Step,
  ): Promise<unknown> {
    return Promise.resolve(claim).then((c) => this.decide(flight, c, call, next));
  }

  private decide(
    flight: PromiseFlight,
    claim: DedupeClaim,
    call: Call,
    next: Step,
  ): Promise<unknown> {
    if (claim.kind === 'owner') return this.own(flight, claim.token, call, next);
    if (claim.kind === 'cached') {
      this.land(flight.key, flight);
      this.hit('cache');
      return Promise.resolve(claim.value);
    }
    return this.joinOtherOwner(flight, claim, call, next);
  }

  private joinOtherOwner(
    flight: PromiseFlight,
    claim: Extract<DedupeClaim, { kind: 'in-progress' }>,
    call: Call,
    next: Step,
  ): Promise<unknown> {
    const { key } = flight;
    return this.awaitOtherOwner(key, claim).then(
      (after) => {
        if (after.kind === 'owner') return this.own(flight, after.token, call, next);
        this.land(key, flight);
        return after.value;
      },
      (error) => {
        // The other owner failed: its error reaches these callers, and the key is free again.
        this.land(key, flight);
        throw error;
      },
    );
  }

  /** Runs the method as the claim's owner and ends the claim with the outcome. */
  private own(flight: PromiseFlight, token: string, call: Call, next: Step): Promise<unknown> {
    this.hold(flight, token);
    let result: Promise<unknown>;
    try {
      result = next.promise(call);
    } catch (error) {
      result = Promise.reject(error);
    }
    return result.then(
      (value) => {
        this.completeClaim(flight, value, this.options.ttlMs);
        this.land(flight.key, flight);
        this.executed('success');
        return value;
      },
      (error) => {
        this.failClaim(flight, error);
        this.land(flight.key, flight);
        this.executed('failure');
        throw error;
      },
    );
  }

  private leadStream(key: string, call: Call, next: Step): StreamCursor {
    let owned: OwnedClaim | undefined;
    const flight: StreamFlight = new StreamFlight(
      {
        open: async () => {
          const after = await this.claimForStream(key);
          if (after.kind === 'value') return replay(after.value);
          owned = this.hold(new OwnedClaim(this, key, UNCOORDINATED_TOKEN), after.token);
          if (!flight.isOver) return next.stream(run)[Symbol.asyncIterator]();
          // Every consumer left while the claim was being decided.
          this.failClaim(owned);
          return replay(new RecordedStream([]));
        },
        closeToJoiners: (f) => {
          // Too long to replay: later callers run their own execution, so the claim goes now.
          if (this.flights.get(key) === f) this.flights.delete(key);
          if (owned !== undefined) this.failClaim(owned);
        },
        ended: (f, ending) => {
          this.land(key, f);
          if (owned !== undefined) this.endStreamClaim(owned, ending);
        },
      },
      DEDUPE_STREAM_CACHE_LIMIT,
    );
    this.flights.set(key, flight);
    const run = this.withSharedAbort(flight, call);
    // An outer backpressure slot covers the execution, which outlives this caller if others read it.
    call.sharedExecution = flight.ended;
    return flight.attach();
  }

  /** A finished stream is cached (unless too long); a failed or abandoned one is not. */
  private endStreamClaim(owned: OwnedClaim, ending: StreamEnding): void {
    if (ending.kind === 'abandoned') return this.failClaim(owned);
    if (ending.kind === 'error') {
      this.failClaim(owned, ending.error);
      return this.executed('failure');
    }
    const cacheable = ending.items !== undefined && this.options.ttlMs > 0;
    const value = cacheable ? new RecordedStream(ending.items!) : undefined;
    this.completeClaim(owned, value, cacheable ? this.options.ttlMs : 0);
    this.executed('success');
  }

  /** Takes the claim `token` as `owned`'s: renewed until it ends. */
  private hold<C extends OwnedClaim>(owned: C, token: string): C {
    owned.token = token;
    if (token !== UNCOORDINATED_TOKEN) this.renewer.add(owned);
    return owned;
  }

  /** @internal Renews a claim this deduplicator owns. */
  renewClaim(owned: OwnedClaim): MaybePromise<boolean> {
    return this.store.renew(this.name, owned.key, owned.token, this.config);
  }

  /** Ends an owned claim with `value`, cached for `ttlMs`; nothing once it has ended. */
  private completeClaim(owned: OwnedClaim, value: unknown, ttlMs: number): void {
    if (!this.endClaim(owned)) return;
    const { key, token } = owned;
    try {
      const done = this.store.complete(this.name, key, token, value, ttlMs, this.config);
      if (isPromiseLike(done)) this.reportFailure('complete', done);
    } catch (error) {
      this.storeError('complete', error);
    }
  }

  /** Releases an owned claim without a result (waiters get `error`); nothing once it has ended. */
  private failClaim(owned: OwnedClaim, error?: unknown): void {
    if (!this.endClaim(owned)) return;
    try {
      const done = this.store.fail(this.name, owned.key, owned.token, error);
      if (isPromiseLike(done)) this.reportFailure('fail', done);
    } catch (failure) {
      this.storeError('fail', failure);
    }
  }

  /** Marks the claim ended, once; true when the store must be told (it coordinates the claim). */
  private endClaim(owned: OwnedClaim): boolean {
    if (owned.ended) return false;
    owned.ended = true;
    owned.end();
    return owned.token !== UNCOORDINATED_TOKEN;
  }

  /** A store write whose failure must not fail the callers: it becomes an event. */
  private reportFailure(operation: string, done: PromiseLike<void>): void {
    done.then(undefined, (error) => this.storeError(operation, error));
  }

  /** The claim for a stream, resolved to a value to replay or a claim to run under. */
  private async claimForStream(key: string): Promise<AfterWait> {
    const claim = await this.claim(key);
    if (claim.kind === 'owner') return claim;
    if (claim.kind === 'in-progress') return this.awaitOtherOwner(key, claim);
    this.hit('cache');
    return { kind: 'value', value: claim.value };
  }

  /**
   * Waits for a claim held outside this deduplicator (another process, or another application
   * sharing the store): until the store says it ended, or its lease runs out, then asks again.
   */
  private async awaitOtherOwner(
    key: string,
    claim: Extract<DedupeClaim, { kind: 'in-progress' }>,
  ): Promise<AfterWait> {
    let pollMs = REMOTE_POLL_MIN_MS;
    for (;;) {
      const settlement = await this.waitForSettlement(claim, pollMs);
      if (settlement?.completed) {
        this.hit('in-flight');
        return { kind: 'value', value: settlement.value };
      }
      if (settlement?.error !== undefined) throw settlement.error;
      const next = await this.claim(key);
      if (next.kind === 'owner') return next;
      if (next.kind === 'cached') {
        this.hit('cache');
        return { kind: 'value', value: next.value };
      }
      claim = next;
      pollMs = Math.min(pollMs * 2, REMOTE_POLL_MAX_MS);
    }
  }

  private waitForSettlement(
    claim: Extract<DedupeClaim, { kind: 'in-progress' }>,
    pollMs: number,
  ): Promise<DedupeSettlement | undefined> {
    const timer = new AbortController();
    // Told when the claim ends, the wait only needs a deadline for a lapsed lease.
    const waitMs = claim.settled
      ? claim.leaseRemainingMs
      : Math.min(pollMs, claim.leaseRemainingMs);
    const timeout = this.clock.sleep(Math.max(1, waitMs), timer.signal).then(
      () => undefined,
      () => undefined,
    );
    if (claim.settled === undefined) return timeout;
    return Promise.race([claim.settled, timeout]).finally(() => timer.abort());
  }

  /** Asks the store; a store that fails is reported, and the call runs coordinated locally. */
  private claim(key: string): MaybePromise<DedupeClaim> {
    try {
      const claim = this.store.claim(this.name, key, this.config);
      return isPromiseLike(claim) ? this.uncoordinatedOnFailure(claim) : claim;
    } catch (error) {
      this.storeError('claim', error);
      return UNCOORDINATED;
    }
  }

  private uncoordinatedOnFailure(claim: PromiseLike<DedupeClaim>): Promise<DedupeClaim> {
    return Promise.resolve(claim).catch((error) => {
      this.storeError('claim', error);
      return UNCOORDINATED;
    });
  }

  /** Makes the execution's AbortSignal abort only when every participant's has. */
  private withSharedAbort(flight: Flight, call: Call): Call {
    const fused = SharedAbort.forArguments(call.args);
    if (fused === undefined) return call;
    flight.abort = fused.shared;
    // The shared execution's policies (a retry below) stop when every participant has left.
    const signal = call.signal === undefined ? undefined : fused.shared.signal;
    return { self: call.self, args: fused.args, dedupeKey: call.dedupeKey, signal };
  }

  /** The flight is over: later callers start a new one (or hit the cache). */
  private land(key: string, flight: Flight): void {
    if (this.flights.get(key) === flight) this.flights.delete(key);
    flight.abort?.dispose();
  }

  private executed(outcome: 'success' | 'failure'): void {
    if (this.events.active)
      this.events.emit({ type: 'dedupe.executed', dedupe: this.name, outcome });
  }

  private hit(source: 'in-flight' | 'cache'): void {
    if (this.events.active) this.events.emit({ type: 'dedupe.hit', dedupe: this.name, source });
  }

  private storeError(operation: string, error: unknown): void {
    if (!this.events.active) return;
    this.events.emit({
      type: 'store.error',
      primitive: 'dedupe',
      name: this.name,
      operation,
      error,
    });
  }
}

/** A source that replays a cached sequence (or, for a plain cached value, that one value). */
function replay(value: unknown): AsyncIterator<unknown> {
  const items = value instanceof RecordedStream ? value.items : [value];
  let index = 0;
  return {
    next: () =>
      Promise.resolve(
        index < items.length
          ? { value: items[index++], done: false }
          : { value: undefined, done: true },
      ),
  };
}
