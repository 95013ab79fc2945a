import { systemClock, type Clock } from '../core/clock.js';
import {
  DedupeStore,
  type DedupeClaim,
  type DedupeClaimRequest,
  type DedupeCompleteRequest,
  type DedupeEntry,
  type DedupeFailRequest,
  type DedupeNamespace,
  type DedupeRenewRequest,
  type DedupeSettlement,
} from './dedupe.store.js';

/** Created only when someone waits on a claim; resolved when the claim ends. */
interface Settled {
  promise: Promise<DedupeSettlement>;
  resolve(settlement: DedupeSettlement): void;
}

interface ClaimEntry {
  readonly token: string;
  leaseUntil: number;
  settled: Settled | undefined;
}

interface ValueEntry {
  readonly value: unknown;
  readonly expiresAt: number;
}

const NOT_COMPLETED: DedupeSettlement = { completed: false };

/**
 * Maps whose first entry, `NEVER_EMPTY`, is never moved or removed: V8 shrinks a hash table
 * that a delete empties (a runtime call and a new table), which an in-flight-only dedupe would
 * pay on every execution.
 */
const NEVER_EMPTY = Symbol('never empty');
const NO_CLAIM: ClaimEntry = { token: '', leaseUntil: 0, settled: undefined };
const NO_VALUE: ValueEntry = { value: undefined, expiresAt: 0 };

/**
 * One namespace: running claims, and cached values in recency order (least recent first). Apart,
 * so that the LRU bound evicts values in O(1) and never a running claim (evicting one would start
 * a second execution of its key): claims are bounded by the calls in flight instead.
 */
interface Namespace {
  readonly claims: Map<string | symbol, ClaimEntry>;
  readonly values: Map<string | symbol, ValueEntry>;
}

/**
 * Process-local dedupe state: synchronous answers, a bounded LRU of cached values per namespace
 * (a `Map` in recency order, the oldest evicted past `maxEntries`), and lazy expiry: a deadline
 * is checked when it is read, so no timer runs per entry.
 *
 * @publicApi
 */
export class InMemoryDedupeStore extends DedupeStore {
  private readonly namespaces = new Map<string, Namespace>();
  /** The last namespace looked up: a deduplicator asks about one, several times per call. */
  private lastName: string | undefined;
  private last: Namespace | undefined;
  private tokens = 0;

  constructor(private readonly clock: Clock = systemClock) {
    super();
  }

  claim({ namespace, key, config }: DedupeClaimRequest): DedupeClaim {
    const { claims, values } = this.namespaceOf(namespace);
    // An in-flight-only dedupe (ttlMs 0) never caches: skip the lookup.
    const cached = values.size > 1 ? values.get(key) : undefined;
    const now = this.clock.now();
    if (cached !== undefined) {
      if (cached.expiresAt > now) {
        values.delete(key); // re-inserted as the most recent
        values.set(key, cached);
        return { kind: 'cached', value: cached.value };
      }
      values.delete(key);
    }
    const running = claims.get(key);
    if (running !== undefined) {
      if (running.leaseUntil > now) return this.inProgress(running, now);
      // The owner stopped renewing (it crashed or hung): its waiters may claim again.
      running.settled?.resolve(NOT_COMPLETED);
      claims.delete(key); // the new claim goes last: claims stay in deadline order
    }
    const token = String(++this.tokens);
    claims.set(key, { token, leaseUntil: now + config.leaseMs, settled: undefined });
    if (claims.size - 1 > config.maxEntries) dropLapsedClaims(claims, now);
    return { kind: 'owner', token };
  }

  /**
   * Caches `value` in place of the claim `token` still holds. A claim that was forgotten, that
   * lapsed, or that another caller took, caches nothing (as in Redis, where a lapsed lease is
   * gone): its result may predate the forget.
   */
  complete({ namespace, key, token, value, ttlMs, config }: DedupeCompleteRequest): void {
    const { claims, values } = this.namespaceOf(namespace);
    const claim = claims.get(key);
    if (claim?.token !== token) return;
    claims.delete(key);
    claim.settled?.resolve({ completed: true, value });
    // Not cached: the clock is read only when a value would be.
    if (ttlMs <= 0) return;
    const now = this.clock.now();
    if (claim.leaseUntil <= now) return;
    values.set(key, { value, expiresAt: now + ttlMs });
    if (values.size - 1 > config.maxEntries) evictOldest(values);
  }

  fail({ namespace, key, token, error }: DedupeFailRequest): void {
    const { claims } = this.namespaceOf(namespace);
    const claim = claims.get(key);
    if (claim?.token !== token) return;
    claims.delete(key);
    claim.settled?.resolve(error === undefined ? NOT_COMPLETED : { completed: false, error });
  }

  renew({ namespace, key, token, config }: DedupeRenewRequest): boolean {
    const claims = this.namespaces.get(namespace)?.claims;
    const claim = claims?.get(key);
    if (claim?.token !== token) return false;
    claim.leaseUntil = this.clock.now() + config.leaseMs;
    // Moved last, so claims stay in deadline order and a long call never stops the sweep.
    claims!.delete(key);
    claims!.set(key, claim);
    return true;
  }

  forget({ namespace, key }: DedupeEntry): void {
    const existing = this.namespaces.get(namespace);
    if (existing === undefined) return;
    existing.values.delete(key);
    const claim = existing.claims.get(key);
    if (claim === undefined) return;
    existing.claims.delete(key);
    claim.settled?.resolve(NOT_COMPLETED);
  }

  /** Counts live claims and values, dropping the expired ones it meets. */
  size({ namespace }: DedupeNamespace): number {
    const existing = this.namespaces.get(namespace);
    if (existing === undefined) return 0;
    const now = this.clock.now();
    for (const [key, value] of existing.values) {
      if (typeof key === 'string' && value.expiresAt <= now) existing.values.delete(key);
    }
    for (const [key, claim] of existing.claims) {
      if (typeof key === 'string' && claim.leaseUntil <= now) this.forget({ namespace, key });
    }
    return existing.values.size - 1 + existing.claims.size - 1;
  }

  override peekCached({ namespace, key }: DedupeEntry): boolean {
    const { values } = this.namespaceOf(namespace);
    const cached = values.size > 1 ? values.get(key) : undefined;
    return cached !== undefined && cached.expiresAt > this.clock.now();
  }

  private inProgress(claim: ClaimEntry, now: number): DedupeClaim {
    claim.settled ??= deferred();
    return {
      kind: 'in-progress',
      leaseRemainingMs: claim.leaseUntil - now,
      settled: claim.settled.promise,
    };
  }

  private namespaceOf(name: string): Namespace {
    if (name === this.lastName) return this.last!;
    let namespace = this.namespaces.get(name);
    if (namespace === undefined) {
      namespace = {
        claims: new Map([[NEVER_EMPTY, NO_CLAIM]]),
        values: new Map([[NEVER_EMPTY, NO_VALUE]]),
      };
      this.namespaces.set(name, namespace);
    }
    this.lastName = name;
    this.last = namespace;
    return namespace;
  }
}

/**
 * Drops lapsed claims from the front (claims are kept in deadline order), so claims taken and
 * never ended (through `checkAndRegister`) do not pile up; the first live claim ends the sweep.
 */
function dropLapsedClaims(claims: Map<string | symbol, ClaimEntry>, now: number): void {
  for (const [key, claim] of claims) {
    if (key === NEVER_EMPTY) continue;
    if (claim.leaseUntil > now) return;
    claims.delete(key);
    claim.settled?.resolve(NOT_COMPLETED);
  }
}

/** Evicts the least recently used value (the first after `NEVER_EMPTY`). */
function evictOldest(values: Map<string | symbol, ValueEntry>): void {
  const order = values.keys();
  order.next(); // NEVER_EMPTY
  values.delete(order.next().value!);
}

function deferred(): Settled {
  let resolve!: (settlement: DedupeSettlement) => void;
  const promise = new Promise<DedupeSettlement>((r) => (resolve = r));
  return { promise, resolve };
}
