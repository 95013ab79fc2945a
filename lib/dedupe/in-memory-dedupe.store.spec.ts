import { describe, expect, it } from '@jest/globals';
import type { DedupeClaim, DedupeConfig } from './dedupe.store.js';
import { InMemoryDedupeStore } from './in-memory-dedupe.store.js';
import { FakeClock } from '../../test/support/fake-clock.js';

const config: DedupeConfig = { leaseMs: 10_000, maxEntries: 3 };

function ownerToken(claim: DedupeClaim): string {
  if (claim.kind !== 'owner') throw new Error(`expected owner, got ${claim.kind}`);
  return claim.token;
}

function cacheValue(store: InMemoryDedupeStore, key: string, value: unknown, ttlMs: number) {
  const token = ownerToken(store.claim('ns', key, config));
  store.complete('ns', key, token, value, ttlMs, config);
}

describe('InMemoryDedupeStore', () => {
  it('answers synchronously: owner, then in-progress, then cached', () => {
    const store = new InMemoryDedupeStore(new FakeClock());
    const token = ownerToken(store.claim('ns', 'k', config));
    expect(store.claim('ns', 'k', config)).toMatchObject({
      kind: 'in-progress',
      leaseRemainingMs: 10_000,
    });
    store.complete('ns', 'k', token, 'v', 1_000, config);
    expect(store.claim('ns', 'k', config)).toEqual({ kind: 'cached', value: 'v' });
  });

  it('expires a cached value lazily at its TTL (fake clock)', () => {
    const clock = new FakeClock();
    const store = new InMemoryDedupeStore(clock);
    cacheValue(store, 'k', 'v', 1_000);
    clock.advance(999);
    expect(store.peekCached('ns', 'k')).toBe(true);
    clock.advance(1);
    expect(store.peekCached('ns', 'k')).toBe(false);
    expect(store.claim('ns', 'k', config).kind).toBe('owner');
  });

  it('evicts the least recently used entry beyond maxEntries; a read refreshes recency', () => {
    const store = new InMemoryDedupeStore(new FakeClock());
    cacheValue(store, 'a', 1, 60_000);
    cacheValue(store, 'b', 2, 60_000);
    cacheValue(store, 'c', 3, 60_000);
    expect(store.claim('ns', 'a', config)).toEqual({ kind: 'cached', value: 1 }); // a is now recent
    cacheValue(store, 'd', 4, 60_000); // evicts b, the least recently used
    expect(store.size('ns')).toBe(3);
    expect(store.peekCached('ns', 'a')).toBe(true);
    expect(store.peekCached('ns', 'b')).toBe(false);
    expect(store.peekCached('ns', 'c')).toBe(true);
    expect(store.peekCached('ns', 'd')).toBe(true);
  });

  it('never evicts a running claim to make room: its waiters keep waiting on the one execution', () => {
    const store = new InMemoryDedupeStore(new FakeClock());
    const running = ownerToken(store.claim('ns', 'running', config));
    for (const key of ['a', 'b', 'c', 'd']) cacheValue(store, key, key, 60_000);

    // The claim is the oldest entry, yet the oldest value made room instead: maxEntries bounds
    // the cached values, and running claims are bounded by the calls in flight.
    expect(store.claim('ns', 'running', config).kind).toBe('in-progress');
    expect(['a', 'b', 'c', 'd'].map((key) => store.peekCached('ns', key))).toEqual([
      false,
      true,
      true,
      true,
    ]);
    expect(store.size('ns')).toBe(config.maxEntries + 1);
    store.complete('ns', 'running', running, 'done', 60_000, config);
    expect(store.claim('ns', 'running', config)).toEqual({ kind: 'cached', value: 'done' });
    expect(store.peekCached('ns', 'b')).toBe(false);
    expect(store.size('ns')).toBe(config.maxEntries);
  });

  it('keeps 20,000 running claims past maxEntries 1,000, evicts none, and still caches 1,000 values', () => {
    const store = new InMemoryDedupeStore(new FakeClock());
    const bounded: DedupeConfig = { leaseMs: 10_000, maxEntries: 1_000 };
    for (let i = 0; i < 20_000; i++) ownerToken(store.claim('ns', `k${i}`, bounded));
    for (let i = 0; i < 2_000; i++) {
      const token = ownerToken(store.claim('ns', `v${i}`, bounded));
      store.complete('ns', `v${i}`, token, i, 60_000, bounded);
    }

    expect(store.size('ns')).toBe(20_000 + 1_000);
    expect(store.claim('ns', 'k0', bounded).kind).toBe('in-progress');
  });

  it('sweeps lapsed claims once claims outnumber maxEntries (claims taken and never ended)', async () => {
    const clock = new FakeClock();
    const store = new InMemoryDedupeStore(clock);
    for (let i = 0; i < 10; i++) ownerToken(store.claim('ns', `abandoned${i}`, config));
    const waiter = store.claim('ns', 'abandoned5', config);
    const settled = waiter.kind === 'in-progress' ? waiter.settled! : Promise.reject(waiter);
    const stillWaiting = async () => Promise.race([settled, Promise.resolve('pending')]);
    expect(await stillWaiting()).toBe('pending'); // live claims are never swept
    clock.advance(config.leaseMs);

    ownerToken(store.claim('ns', 'fresh', config)); // claims now outnumber maxEntries (3)

    // Swept by that claim (not by a read of the key): its waiter is told the claim ended.
    expect(await stillWaiting()).toEqual({ completed: false });
  });

  it('keeps sweeping past a long call it renews: claims stay in deadline order', () => {
    const clock = new FakeClock();
    const store = new InMemoryDedupeStore(clock);
    const long = ownerToken(store.claim('ns', 'long call', config));
    for (let i = 0; i < 1_000; i++) ownerToken(store.claim('ns', `abandoned${i}`, config));
    clock.advance(config.leaseMs - 1);
    expect(store.renew('ns', 'long call', long, config)).toBe(true);
    clock.advance(1); // every abandoned claim has lapsed; the long call has not

    ownerToken(store.claim('ns', 'fresh', config));

    expect(store.claim('ns', 'long call', config).kind).toBe('in-progress');
    expect(store.renew('ns', 'abandoned999', String(1_001), config)).toBe(false); // swept
  });

  it('stays bounded: 100,000 distinct keys with maxEntries 1,000 leave exactly 1,000 entries', () => {
    const store = new InMemoryDedupeStore(new FakeClock());
    const bounded: DedupeConfig = { leaseMs: 10_000, maxEntries: 1_000 };
    for (let i = 0; i < 100_000; i++) {
      const token = ownerToken(store.claim('ns', `k${i}`, bounded));
      store.complete('ns', `k${i}`, token, i, 60_000, bounded);
    }
    expect(store.size('ns')).toBe(1_000);
    expect(store.peekCached('ns', 'k99999')).toBe(true);
    expect(store.peekCached('ns', 'k98999')).toBe(false);
  });

  it('counts only live entries in size()', () => {
    const clock = new FakeClock();
    const store = new InMemoryDedupeStore(clock);
    cacheValue(store, 'short', 1, 100);
    cacheValue(store, 'long', 2, 10_000);
    clock.advance(100);
    expect(store.size('ns')).toBe(1);
    expect(store.size('other')).toBe(0);
  });

  it('a lapsed claim goes to the next claimant; the old token can no longer renew or fail it', () => {
    const clock = new FakeClock();
    const store = new InMemoryDedupeStore(clock);
    const first = ownerToken(store.claim('ns', 'k', config));
    clock.advance(5_000);
    expect(store.renew('ns', 'k', first, config)).toBe(true);
    clock.advance(10_000);
    const second = ownerToken(store.claim('ns', 'k', config));
    expect(second).not.toBe(first);
    expect(store.renew('ns', 'k', first, config)).toBe(false);
    store.fail('ns', 'k', first);
    expect(store.claim('ns', 'k', config).kind).toBe('in-progress');
  });

  it('tells waiters how a claim ended: with the value, or not completed', async () => {
    const store = new InMemoryDedupeStore(new FakeClock());
    const token = ownerToken(store.claim('ns', 'ok', config));
    const waiting = store.claim('ns', 'ok', config);
    store.complete('ns', 'ok', token, 'v', 0, config);
    expect(waiting.kind === 'in-progress' && (await waiting.settled)).toEqual({
      completed: true,
      value: 'v',
    });
    const failing = ownerToken(store.claim('ns', 'bad', config));
    const waitingBad = store.claim('ns', 'bad', config);
    store.fail('ns', 'bad', failing);
    expect(waitingBad.kind === 'in-progress' && (await waitingBad.settled)).toEqual({
      completed: false,
    });
  });

  it('keeps the first cached result: a second complete does not overwrite it', () => {
    const store = new InMemoryDedupeStore(new FakeClock());
    cacheValue(store, 'k', 'first', 60_000);
    store.complete('ns', 'k', 'stale-token', 'second', 60_000, config);
    expect(store.claim('ns', 'k', config)).toEqual({ kind: 'cached', value: 'first' });
  });

  it('with ttlMs 0 a complete only releases the claim of its own token', () => {
    const store = new InMemoryDedupeStore(new FakeClock());
    ownerToken(store.claim('ns', 'k', config));
    store.complete('ns', 'k', 'someone-else', 'v', 0, config);
    expect(store.claim('ns', 'k', config).kind).toBe('in-progress');
  });

  it('forget drops a claim or a value', () => {
    const store = new InMemoryDedupeStore(new FakeClock());
    cacheValue(store, 'v', 1, 60_000);
    ownerToken(store.claim('ns', 'c', config));
    store.forget('ns', 'v');
    store.forget('ns', 'c');
    store.forget('ns', 'absent');
    expect(store.size('ns')).toBe(0);
  });
});
