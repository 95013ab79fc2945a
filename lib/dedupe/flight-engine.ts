import type { Call, Step } from '../core/layer.js';
import { isPromiseLike } from '../core/maybe-promise.js';
import { ClaimLedger, OwnedClaim, UNCOORDINATED_TOKEN, type AfterWait } from './claim-ledger.js';
import { DEDUPE_STREAM_CACHE_LIMIT } from './dedupe-options.js';
import type { DedupeClaim } from './dedupe.store.js';
import { SharedAbort } from './shared-abort.js';
import {
  RecordedStream,
  StreamFlight,
  type StreamCursor,
  type StreamEnding,
} from './shared-stream.js';

/**
 * A promise execution shared by every concurrent caller with its key. It is also the claim its
 * execution runs under, once it owns one: one object per execution.
 */
class PromiseFlight extends OwnedClaim {
  promise!: Promise<unknown>;
  abort: SharedAbort | undefined = undefined;
}

type Flight = PromiseFlight | StreamFlight;

/**
 * Keeps the flights map from emptying: V8 shrinks a hash table that a delete empties (a runtime
 * call and a new table), which every sequential execution would pay.
 */
const NEVER_EMPTY = Symbol('never empty');

/**
 * The engine behind `@Dedupe`: concurrent calls with one key share one execution (joiners await
 * the leader's promise or read the leader's stream; nobody polls), under a claim taken through
 * the ledger, so other processes sharing the store share it too.
 */
export class FlightEngine {
  private readonly flights = new Map<string | symbol, Flight>();

  constructor(
    private readonly ledger: ClaimLedger,
    /** How long a result is cached, in ms: `DedupeOptions.ttlMs`. */
    private readonly ttlMs: number,
  ) {
    this.flights.set(NEVER_EMPTY, new PromiseFlight(ledger, '', UNCOORDINATED_TOKEN));
  }

  /** True when a call with `key` would join a running execution or be served from the cache. */
  answersWithoutExecution(key: string): boolean {
    const flight = this.flights.get(key);
    if (flight !== undefined) return flight instanceof PromiseFlight || flight.joinable;
    return this.ledger.peekCached(key);
  }

  /** Runs `next.promise(call)` once for every concurrent call with `key`. */
  execute(key: string, call: Call, next: Step): Promise<unknown> {
    const flight = this.flights.get(key);
    if (flight instanceof PromiseFlight) {
      this.ledger.hit('in-flight');
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
      this.ledger.hit('in-flight');
      flight.abort?.join(call.args);
      return flight.attach();
    }
    if (flight !== undefined) return next.stream(call)[Symbol.asyncIterator]();
    return this.leadStream(key, call, next);
  }

  /** Later calls with `key` start a new execution; callers of the running one keep theirs. */
  forget(key: string): void {
    this.flights.delete(key);
  }

  private lead(key: string, call: Call, next: Step): Promise<unknown> {
    const claim = this.ledger.claim(key);
    if (!isPromiseLike(claim) && claim.kind === 'cached') {
      this.ledger.hit('cache');
      return Promise.resolve(claim.value);
    }
    const flight = new PromiseFlight(this.ledger, key, UNCOORDINATED_TOKEN);
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
      this.ledger.hit('cache');
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
    return this.ledger.awaitOtherOwner(key, claim).then(
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
    this.ledger.hold(flight, token);
    let result: Promise<unknown>;
    try {
      result = next.promise(call);
    } catch (error) {
      result = Promise.reject(error);
    }
    return result.then(
      (value) => {
        this.ledger.completeQuietly(flight, value, this.ttlMs);
        this.land(flight.key, flight);
        this.ledger.executed('success');
        return value;
      },
      (error) => {
        this.ledger.failQuietly(flight, error);
        this.land(flight.key, flight);
        this.ledger.executed('failure');
        throw error;
      },
    );
  }

  private leadStream(key: string, call: Call, next: Step): StreamCursor {
    const { ledger } = this;
    let owned: OwnedClaim | undefined;
    const flight: StreamFlight = new StreamFlight(
      {
        open: async () => {
          const after = await this.claimForStream(key);
          if (after.kind === 'value') return replay(after.value);
          owned = ledger.hold(new OwnedClaim(ledger, key, UNCOORDINATED_TOKEN), after.token);
          if (!flight.isOver) return next.stream(run)[Symbol.asyncIterator]();
          // Every consumer left while the claim was being decided.
          ledger.failQuietly(owned);
          return replay(new RecordedStream([]));
        },
        closeToJoiners: (f) => {
          // Too long to replay: later callers run their own execution, so the claim goes now.
          if (this.flights.get(key) === f) this.flights.delete(key);
          if (owned !== undefined) ledger.failQuietly(owned);
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
    if (ending.kind === 'abandoned') return this.ledger.failQuietly(owned);
    if (ending.kind === 'error') {
      this.ledger.failQuietly(owned, ending.error);
      return this.ledger.executed('failure');
    }
    const cacheable = ending.items !== undefined && this.ttlMs > 0;
    const value = cacheable ? new RecordedStream(ending.items!) : undefined;
    this.ledger.completeQuietly(owned, value, cacheable ? this.ttlMs : 0);
    this.ledger.executed('success');
  }

  /** The claim for a stream, resolved to a value to replay or a claim to run under. */
  private async claimForStream(key: string): Promise<AfterWait> {
    const claim = await this.ledger.claim(key);
    if (claim.kind === 'owner') return claim;
    if (claim.kind === 'in-progress') return this.ledger.awaitOtherOwner(key, claim);
    this.ledger.hit('cache');
    return { kind: 'value', value: claim.value };
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
