import { systemClock, type Clock } from '../core/clock.js';
import {
  DedupeStore,
  type DedupeClaim,
  type DedupeConfig,
  type DedupeSettlement,
} from './dedupe.store.js';

/** Created only when someone waits on a claim; resolved when the claim ends. */
interface Settled {
  promise: Promise<DedupeSettlement>;
  resolve(settlement: DedupeSettlement): void;
}

interface ClaimEntry {
  readonly kind: 'claim';
  readonly token: string;
  leaseUntil: number;
  settled: Settled | undefined;
}

interface ValueEntry {
  readonly kind: 'value';
  readonly value: unknown;
  readonly expiresAt: number;
}

type Entry = ClaimEntry | ValueEntry;

const NOT_COMPLETED: DedupeSettlement = { completed: false };

/**
 * A namespace's entries in recency order, after `NEVER_EMPTY`, which is never moved or evicted:
 * V8 shrinks a hash table that a delete empties (a runtime call and a new table), which an
 * in-flight-only dedupe would pay on every execution.
 */
type Entries = Map<string | symbol, Entry>;
const NEVER_EMPTY = Symbol('never empty');
const PLACEHOLDER: ValueEntry = { kind: 'value', value: undefined, expiresAt: 0 };

/**
 * Process-local dedupe state: synchronous answers, a bounded LRU per namespace (a `Map` in
 * recency order, the oldest evicted past `maxEntries`), and lazy expiry: an entry's deadline is
 * checked when it is read, so no timer runs per entry.
 *
 * @publicApi
 */
export class InMemoryDedupeStore extends DedupeStore {
  private readonly namespaces = new Map<string, Entries>();
  /** The last namespace looked up: a deduplicator asks about one, several times per call. */
  private lastNamespace: string | undefined;
  private lastEntries: Entries | undefined;
  private tokens = 0;

  constructor(private readonly clock: Clock = systemClock) {
    super();
  }

  claim(namespace: string, key: string, config: DedupeConfig): DedupeClaim {
    const entries = this.entriesOf(namespace);
    const entry = entries.get(key);
    const now = this.clock.now();
    if (entry !== undefined) {
      if (entry.kind === 'value' && entry.expiresAt > now) {
        touch(entries, key, entry);
        return { kind: 'cached', value: entry.value };
      }
      if (entry.kind === 'claim') {
        if (entry.leaseUntil > now) return this.inProgress(entry, now);
        // The owner stopped renewing (it crashed or hung): its waiters may claim again.
        entry.settled?.resolve(NOT_COMPLETED);
      }
      entries.delete(key); // re-inserted below, as the most recent
    }
    const token = String(++this.tokens);
    const claim: ClaimEntry = {
      kind: 'claim',
      token,
      leaseUntil: now + config.leaseMs,
      settled: undefined,
    };
    this.insert(entries, key, claim, config);
    return { kind: 'owner', token };
  }

  complete(
    namespace: string,
    key: string,
    token: string,
    value: unknown,
    ttlMs: number,
    config: DedupeConfig,
  ): void {
    const entries = this.entriesOf(namespace);
    const entry = entries.get(key);
    if (ttlMs > 0) return this.cache(entries, key, entry, token, value, ttlMs, config);
    // Not cached: the clock is read only to tell an expired value, not to release one's claim.
    if (entry?.kind === 'claim') {
      if (entry.token !== token) return;
      entries.delete(key);
      entry.settled?.resolve({ completed: true, value });
    } else if (entry !== undefined && entry.expiresAt <= this.clock.now()) {
      entries.delete(key);
    }
  }

  fail(namespace: string, key: string, token: string, error?: unknown): void {
    const entries = this.entriesOf(namespace);
    const entry = entries.get(key);
    if (entry?.kind !== 'claim' || entry.token !== token) return;
    entries.delete(key);
    entry.settled?.resolve(error === undefined ? NOT_COMPLETED : { completed: false, error });
  }

  renew(namespace: string, key: string, token: string, config: DedupeConfig): boolean {
    const entry = this.namespaces.get(namespace)?.get(key);
    if (entry?.kind !== 'claim' || entry.token !== token) return false;
    entry.leaseUntil = this.clock.now() + config.leaseMs;
    return true;
  }

  forget(namespace: string, key: string): void {
    const entries = this.namespaces.get(namespace);
    const entry = entries?.get(key);
    if (entry === undefined) return;
    entries!.delete(key);
    if (entry.kind === 'claim') entry.settled?.resolve(NOT_COMPLETED);
  }

  /** Counts live entries, dropping the expired ones it meets. */
  size(namespace: string): number {
    const entries = this.namespaces.get(namespace);
    if (entries === undefined) return 0;
    const now = this.clock.now();
    for (const [key, entry] of entries) {
      if (typeof key !== 'string') continue; // NEVER_EMPTY
      const deadline = entry.kind === 'value' ? entry.expiresAt : entry.leaseUntil;
      if (deadline <= now) this.forget(namespace, key);
    }
    return entries.size - 1;
  }

  override peekCached(namespace: string, key: string): boolean {
    const entry = this.entriesOf(namespace).get(key);
    return entry?.kind === 'value' && entry.expiresAt > this.clock.now();
  }

  private inProgress(entry: ClaimEntry, now: number): DedupeClaim {
    entry.settled ??= deferred();
    return {
      kind: 'in-progress',
      leaseRemainingMs: entry.leaseUntil - now,
      settled: entry.settled.promise,
    };
  }

  /**
   * Caches `value` in place of the claim `token` still holds. A claim that was forgotten, or
   * lapsed and was taken by another caller, caches nothing: its result may predate the forget.
   */
  private cache(
    entries: Entries,
    key: string,
    entry: Entry | undefined,
    token: string,
    value: unknown,
    ttlMs: number,
    config: DedupeConfig,
  ): void {
    if (entry?.kind !== 'claim' || entry.token !== token) return;
    entry.settled?.resolve({ completed: true, value });
    entries.delete(key);
    const expiresAt = this.clock.now() + ttlMs;
    this.insert(entries, key, { kind: 'value', value, expiresAt }, config);
  }

  /**
   * Adds a key absent from `entries`, the most recent, then evicts the least recent values past
   * the bound. Running claims are never evicted (that would start a second execution of the
   * key), so claims beyond `maxEntries` are bounded by the calls in flight.
   */
  private insert(entries: Entries, key: string, entry: Entry, config: DedupeConfig): void {
    entries.set(key, entry);
    let excess = entries.size - 1 - config.maxEntries;
    if (excess <= 0) return;
    for (const [oldKey, old] of entries) {
      if (old.kind === 'claim' || oldKey === NEVER_EMPTY) continue;
      entries.delete(oldKey);
      if (--excess === 0) return;
    }
  }

  private entriesOf(namespace: string): Entries {
    if (namespace === this.lastNamespace) return this.lastEntries!;
    let entries = this.namespaces.get(namespace);
    if (entries === undefined) {
      entries = new Map([[NEVER_EMPTY, PLACEHOLDER]]);
      this.namespaces.set(namespace, entries);
    }
    this.lastNamespace = namespace;
    this.lastEntries = entries;
    return entries;
  }
}

/** Moves a read entry to the most recent end of the map (the LRU order). */
function touch(entries: Entries, key: string, entry: Entry): void {
  entries.delete(key);
  entries.set(key, entry);
}

function deferred(): Settled {
  let resolve!: (settlement: DedupeSettlement) => void;
  const promise = new Promise<DedupeSettlement>((r) => (resolve = r));
  return { promise, resolve };
}
