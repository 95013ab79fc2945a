import { systemClock, type Clock } from '../core/clock.js';
import {
  DedupeStore,
  type DedupeClaim,
  type DedupeConfig,
  type DedupeSettlement,
} from './dedupe.store.js';

interface ClaimEntry {
  readonly kind: 'claim';
  readonly token: string;
  leaseUntil: number;
  /** Created only when someone waits on the claim; resolved when it ends. */
  settled?: { promise: Promise<DedupeSettlement>; resolve(settlement: DedupeSettlement): void };
}

interface ValueEntry {
  readonly kind: 'value';
  readonly value: unknown;
  readonly expiresAt: number;
}

type Entry = ClaimEntry | ValueEntry;

const NOT_COMPLETED: DedupeSettlement = { completed: false };

/**
 * Process-local dedupe state: synchronous answers, a bounded LRU per namespace (a `Map` in
 * recency order, the oldest evicted past `maxEntries`), and lazy expiry: an entry's deadline is
 * checked when it is read, so no timer runs per entry.
 *
 * @publicApi
 */
export class InMemoryDedupeStore extends DedupeStore {
  private readonly namespaces = new Map<string, Map<string, Entry>>();
  private tokens = 0;

  constructor(private readonly clock: Clock = systemClock) {
    super();
  }

  claim(namespace: string, key: string, config: DedupeConfig): DedupeClaim {
    const entries = this.entriesOf(namespace);
    const entry = entries.get(key);
    const now = this.clock.now();
    if (entry?.kind === 'value' && entry.expiresAt > now) {
      touch(entries, key, entry);
      return { kind: 'cached', value: entry.value };
    }
    if (entry?.kind === 'claim') {
      if (entry.leaseUntil > now) return this.inProgress(entry, now);
      // The owner stopped renewing (it crashed or hung): its waiters may claim again.
      entry.settled?.resolve(NOT_COMPLETED);
    }
    const token = String(++this.tokens);
    this.put(entries, key, { kind: 'claim', token, leaseUntil: now + config.leaseMs }, config);
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
    const now = this.clock.now();
    if (entry?.kind === 'value' && entry.expiresAt > now) return; // The first result wins.
    if (ttlMs > 0) {
      // Replaces any claim: its waiters take this result, as they would find it in Redis.
      if (entry?.kind === 'claim') entry.settled?.resolve({ completed: true, value });
      this.put(entries, key, { kind: 'value', value, expiresAt: now + ttlMs }, config);
    } else if (entry?.kind === 'claim' && entry.token === token) {
      entries.delete(key);
      entry.settled?.resolve({ completed: true, value });
    } else if (entry?.kind === 'value') {
      entries.delete(key); // expired
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
      const deadline = entry.kind === 'value' ? entry.expiresAt : entry.leaseUntil;
      if (deadline <= now) this.forget(namespace, key);
    }
    return entries.size;
  }

  override peekCached(namespace: string, key: string): boolean {
    const entry = this.namespaces.get(namespace)?.get(key);
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

  /** Inserts as the most recent entry and evicts the least recent ones beyond the bound. */
  private put(entries: Map<string, Entry>, key: string, entry: Entry, config: DedupeConfig): void {
    entries.delete(key);
    entries.set(key, entry);
    while (entries.size > config.maxEntries) {
      const [oldestKey, oldest] = entries.entries().next().value!;
      entries.delete(oldestKey);
      if (oldest.kind === 'claim') oldest.settled?.resolve(NOT_COMPLETED);
    }
  }

  private entriesOf(namespace: string): Map<string, Entry> {
    let entries = this.namespaces.get(namespace);
    if (entries === undefined) {
      entries = new Map();
      this.namespaces.set(namespace, entries);
    }
    return entries;
  }
}

/** Moves a read entry to the most recent end of the map (the LRU order). */
function touch(entries: Map<string, Entry>, key: string, entry: Entry): void {
  entries.delete(key);
  entries.set(key, entry);
}

function deferred(): NonNullable<ClaimEntry['settled']> {
  let resolve!: (settlement: DedupeSettlement) => void;
  const promise = new Promise<DedupeSettlement>((r) => (resolve = r));
  return { promise, resolve };
}
