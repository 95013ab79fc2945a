import type { Clock } from '../core/clock.js';
import type { EventSink } from '../core/events.js';
import { LeaseRenewer, RenewedLease } from '../core/lease-renewer.js';
import { isPromiseLike, type MaybePromise } from '../core/maybe-promise.js';
import type { DedupeClaim, DedupeConfig, DedupeSettlement, DedupeStore } from './dedupe.store.js';

/** A claim the store could not make (it failed): run anyway, coordinated only locally. */
export const UNCOORDINATED_TOKEN = '';
const UNCOORDINATED: DedupeClaim = { kind: 'owner', token: UNCOORDINATED_TOKEN };
const RUN_LOCALLY: AfterWait = { kind: 'owner', token: UNCOORDINATED_TOKEN };
/** How often a caller re-asks about a claim the store cannot notify it about. */
const REMOTE_POLL_MIN_MS = 50;
const REMOTE_POLL_MAX_MS = 1_000;

type InProgress = Extract<DedupeClaim, { kind: 'in-progress' }>;

/** Where a caller who found someone else's claim ends up once that claim is over. */
export type AfterWait = { kind: 'value'; value: unknown } | { kind: 'owner'; token: string };

/**
 * A claim this deduplicator owns, until `ended`: a lease renewed until then (unless the store
 * failed and the claim is uncoordinated), so holding it allocates nothing more.
 */
export class OwnedClaim extends RenewedLease {
  ended = false;

  constructor(
    private readonly ledger: ClaimLedger,
    readonly key: string,
    public token: string,
  ) {
    super();
  }

  renew(): MaybePromise<boolean> {
    return this.ledger.renew(this);
  }
}

/** What a `ClaimLedger` works for: one dedupe name over one store. */
export interface LedgerContext {
  readonly name: string;
  readonly store: DedupeStore;
  readonly config: DedupeConfig;
  readonly clock: Clock;
  readonly events: EventSink;
}

/**
 * The one way a deduplicator reaches its store, and the one record of the claims it holds:
 * executions own theirs (renewed until they end), and the claims callers took through
 * `checkAndRegister` are kept by key until they `complete` or `fail`. Store failures during an
 * execution become `store.error` events (the call runs coordinated only locally); the seed's
 * methods, which their callers await, reject instead.
 */
export class ClaimLedger {
  readonly name: string;
  private readonly renewer: LeaseRenewer;
  /** Claims taken through `checkAndRegister`, by key: not renewed, ended by the caller. */
  private readonly taken = new Map<string, OwnedClaim>();

  constructor(private readonly context: LedgerContext) {
    this.name = context.name;
    this.renewer = new LeaseRenewer(context.config.leaseMs, (error) =>
      this.storeError('renew', error),
    );
  }

  /** Asks the store; a failure rejects (or throws), for callers that await the answer. */
  ask(key: string): MaybePromise<DedupeClaim> {
    return this.context.store.claim({ namespace: this.name, key, config: this.context.config });
  }

  /** Asks the store; a store that fails is reported, and the call runs coordinated locally. */
  claim(key: string): MaybePromise<DedupeClaim> {
    try {
      const claim = this.ask(key);
      return isPromiseLike(claim) ? this.uncoordinatedOnFailure(claim) : claim;
    } catch (error) {
      this.storeError('claim', error);
      return UNCOORDINATED;
    }
  }

  /** Records a claim the caller of `checkAndRegister` now holds, until `release`. */
  take(key: string, token: string): void {
    this.taken.set(key, new OwnedClaim(this, key, token));
  }

  /** The claim a caller took on `key`, now theirs to end; undefined when there is none. */
  release(key: string): OwnedClaim | undefined {
    const owned = this.taken.get(key);
    this.taken.delete(key);
    return owned;
  }

  /**
   * A claim for writing `key` outside an execution (cache warming, replacing a cached value):
   * a cached value is forgotten first. Undefined when someone else holds the key.
   */
  async claimToWrite(key: string): Promise<OwnedClaim | undefined> {
    let claim = await this.ask(key);
    if (claim.kind === 'cached') {
      await this.forget(key);
      claim = await this.ask(key);
    }
    return claim.kind === 'owner' ? new OwnedClaim(this, key, claim.token) : undefined;
  }

  /** Takes the claim `token` as `owned`'s: renewed until it ends. */
  hold<C extends OwnedClaim>(owned: C, token: string): C {
    owned.token = token;
    if (token !== UNCOORDINATED_TOKEN) this.renewer.add(owned);
    return owned;
  }

  /** @internal Renews a claim this deduplicator owns. */
  renew(owned: OwnedClaim): MaybePromise<boolean> {
    const { key, token } = owned;
    return this.context.store.renew({
      namespace: this.name,
      key,
      token,
      config: this.context.config,
    });
  }

  /** Ends `owned` with `value`, cached for `ttlMs`; nothing once it has ended. */
  complete(owned: OwnedClaim, value: unknown, ttlMs: number): MaybePromise<void> {
    if (!this.end(owned)) return;
    const { key, token } = owned;
    const { config, store } = this.context;
    return store.complete({ namespace: this.name, key, token, value, ttlMs, config });
  }

  /** Ends `owned` without a result (waiters get `error`); nothing once it has ended. */
  fail(owned: OwnedClaim, error?: unknown): MaybePromise<void> {
    if (!this.end(owned)) return;
    const { key, token } = owned;
    const { config, store } = this.context;
    return store.fail({ namespace: this.name, key, token, error, config });
  }

  /** `complete` for an execution: a store failure must not fail its callers. */
  completeQuietly(owned: OwnedClaim, value: unknown, ttlMs: number): void {
    try {
      this.reportFailure('complete', this.complete(owned, value, ttlMs));
    } catch (error) {
      this.storeError('complete', error);
    }
  }

  /** `fail` for an execution: a store failure must not fail its callers. */
  failQuietly(owned: OwnedClaim, error?: unknown): void {
    try {
      this.reportFailure('fail', this.fail(owned, error));
    } catch (failure) {
      this.storeError('fail', failure);
    }
  }

  forget(key: string): MaybePromise<void> {
    return this.context.store.forget({ namespace: this.name, key });
  }

  size(): MaybePromise<number> {
    return this.context.store.size({ namespace: this.name });
  }

  peekCached(key: string): boolean {
    return this.context.store.peekCached({ namespace: this.name, key }) === true;
  }

  /**
   * Waits for a claim held outside this deduplicator (another process, or another application
   * sharing the store): until the store says it ended, or its lease runs out, then asks again.
   */
  async awaitOtherOwner(key: string, claim: InProgress): Promise<AfterWait> {
    let pollMs = REMOTE_POLL_MIN_MS;
    for (;;) {
      const settlement = await this.waitForSettlement(claim, pollMs);
      if (settlement?.completed) {
        this.hit('in-flight');
        return { kind: 'value', value: settlement.value };
      }
      if (settlement?.error !== undefined) throw settlement.error;
      // The result exists but could not be shared: this process runs its own, uncoordinated.
      if (settlement?.runLocally === true) return RUN_LOCALLY;
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

  executed(outcome: 'success' | 'failure'): void {
    const { events } = this.context;
    if (events.active) events.emit({ type: 'dedupe.executed', dedupe: this.name, outcome });
  }

  hit(source: 'in-flight' | 'cache'): void {
    const { events } = this.context;
    if (events.active) events.emit({ type: 'dedupe.hit', dedupe: this.name, source });
  }

  private waitForSettlement(
    claim: InProgress,
    pollMs: number,
  ): Promise<DedupeSettlement | undefined> {
    const timer = new AbortController();
    // Told when the claim ends, the wait only needs a deadline for a lapsed lease.
    const waitMs = claim.settled
      ? claim.leaseRemainingMs
      : Math.min(pollMs, claim.leaseRemainingMs);
    const timeout = this.context.clock.sleep(Math.max(1, waitMs), timer.signal).then(
      () => undefined,
      () => undefined,
    );
    if (claim.settled === undefined) return timeout;
    return Promise.race([claim.settled, timeout]).finally(() => timer.abort());
  }

  /** Marks the claim ended, once; true when the store must be told (it coordinates the claim). */
  private end(owned: OwnedClaim): boolean {
    if (owned.ended) return false;
    owned.ended = true;
    owned.end();
    return owned.token !== UNCOORDINATED_TOKEN;
  }

  private uncoordinatedOnFailure(claim: PromiseLike<DedupeClaim>): Promise<DedupeClaim> {
    return Promise.resolve(claim).catch((error) => {
      this.storeError('claim', error);
      return UNCOORDINATED;
    });
  }

  /** A store write whose failure must not fail the callers: it becomes an event. */
  private reportFailure(operation: string, done: MaybePromise<void>): void {
    if (isPromiseLike(done)) done.then(undefined, (error) => this.storeError(operation, error));
  }

  private storeError(operation: string, error: unknown): void {
    const { events } = this.context;
    if (!events.active) return;
    events.emit({ type: 'store.error', primitive: 'dedupe', name: this.name, operation, error });
  }
}
