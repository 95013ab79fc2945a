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
  const token = ownerToken(store.claim({ namespace: 'ns', key, config }));
  store.complete({ namespace: 'ns', key, token, value, ttlMs, config });
}

describe('InMemoryDedupeStore', () => {
  it('answers synchronously: owner, then in-progress, then cached', () => {
    const store = new InMemoryDedupeStore(new FakeClock());
    const token = ownerToken(store.claim({ namespace: 'ns', key: 'k', config }));
    expect(store.claim({ namespace: 'ns', key: 'k', config })).toMatchObject({
      kind: 'in-progress',
      leaseRemainingMs: 10_000,
    });
    store.complete({ namespace: 'ns', key: 'k', token, value: 'v', ttlMs: 1_000, config });
    expect(store.claim({ namespace: 'ns', key: 'k', config })).toEqual({
      kind: 'cached',
      value: 'v',
    });
  });

  it('expires a cached value lazily at its TTL (fake clock)', () => {
    const clock = new FakeClock();
    const store = new InMemoryDedupeStore(clock);
    cacheValue(store, 'k', 'v', 1_000);
    clock.advance(999);
    expect(store.peekCached({ namespace: 'ns', key: 'k' })).toBe(true);
    clock.advance(1);
    expect(store.peekCached({ namespace: 'ns', key: 'k' })).toBe(false);
    expect(store.claim({ namespace: 'ns', key: 'k', config }).kind).toBe('owner');
  });

  it('evicts the least recently used entry beyond maxEntries; a read refreshes recency', () => {
    const store = new InMemoryDedupeStore(new FakeClock());
    cacheValue(store, 'a', 1, 60_000);
    cacheValue(store, 'b', 2, 60_000);
    cacheValue(store, 'c', 3, 60_000);
    expect(store.claim({ namespace: 'ns', key: 'a', config })).toEqual({
      kind: 'cached',
      value: 1,
    }); // a is now recent
    cacheValue(store, 'd', 4, 60_000); // evicts b, the least recently used
    expect(store.size({ namespace: 'ns' })).toBe(3);
    expect(store.peekCached({ namespace: 'ns', key: 'a' })).toBe(true);
    expect(store.peekCached({ namespace: 'ns', key: 'b' })).toBe(false);
    expect(store.peekCached({ namespace: 'ns', key: 'c' })).toBe(true);
    expect(store.peekCached({ namespace: 'ns', key: 'd' })).toBe(true);
  });

  it('never evicts a running claim to make room: its waiters keep waiting on the one execution', () => {
    const store = new InMemoryDedupeStore(new FakeClock());
    const running = ownerToken(store.claim({ namespace: 'ns', key: 'running', config }));
    for (const key of ['a', 'b', 'c', 'd']) cacheValue(store, key, key, 60_000);

    // The claim is the oldest entry, yet the oldest value made room instead: maxEntries bounds
    // the cached values, and running claims are bounded by the calls in flight.
    expect(store.claim({ namespace: 'ns', key: 'running', config }).kind).toBe('in-progress');
    expect(['a', 'b', 'c', 'd'].map((key) => store.peekCached({ namespace: 'ns', key }))).toEqual([
      false,
      true,
      true,
      true,
    ]);
    expect(store.size({ namespace: 'ns' })).toBe(config.maxEntries + 1);
    store.complete({
      namespace: 'ns',
      key: 'running',
      token: running,
      value: 'done',
      ttlMs: 60_000,
      config,
    });
    expect(store.claim({ namespace: 'ns', key: 'running', config })).toEqual({
      kind: 'cached',
      value: 'done',
    });
    expect(store.peekCached({ namespace: 'ns', key: 'b' })).toBe(false);
    expect(store.size({ namespace: 'ns' })).toBe(config.maxEntries);
  });

  it('keeps 20,000 running claims past maxEntries 1,000, evicts none, and still caches 1,000 values', () => {
    const store = new InMemoryDedupeStore(new FakeClock());
    const bounded: DedupeConfig = { leaseMs: 10_000, maxEntries: 1_000 };
    for (let i = 0; i < 20_000; i++)
      ownerToken(store.claim({ namespace: 'ns', key: `k${i}`, config: bounded }));
    for (let i = 0; i < 2_000; i++) {
      const token = ownerToken(store.claim({ namespace: 'ns', key: `v${i}`, config: bounded }));
      store.complete({
        namespace: 'ns',
        key: `v${i}`,
        token,
        value: i,
        ttlMs: 60_000,
        config: bounded,
      });
    }

    expect(store.size({ namespace: 'ns' })).toBe(20_000 + 1_000);
    expect(store.claim({ namespace: 'ns', key: 'k0', config: bounded }).kind).toBe('in-progress');
  });

  it('sweeps lapsed claims once claims outnumber maxEntries (claims taken and never ended)', async () => {
    const clock = new FakeClock();
    const store = new InMemoryDedupeStore(clock);
    for (let i = 0; i < 10; i++)
      ownerToken(store.claim({ namespace: 'ns', key: `abandoned${i}`, config }));
    const waiter = store.claim({ namespace: 'ns', key: 'abandoned5', config });
    const settled = waiter.kind === 'in-progress' ? waiter.settled! : Promise.reject(waiter);
    const stillWaiting = async () => Promise.race([settled, Promise.resolve('pending')]);
    expect(await stillWaiting()).toBe('pending'); // live claims are never swept
    clock.advance(config.leaseMs);

    ownerToken(store.claim({ namespace: 'ns', key: 'fresh', config })); // claims now outnumber maxEntries (3)

    // Swept by that claim (not by a read of the key): its waiter is told the claim ended.
    expect(await stillWaiting()).toEqual({ completed: false });
  });

  it('keeps sweeping past a long call it renews: claims stay in deadline order', () => {
    const clock = new FakeClock();
    const store = new InMemoryDedupeStore(clock);
    const long = ownerToken(store.claim({ namespace: 'ns', key: 'long call', config }));
    for (let i = 0; i < 1_000; i++)
      ownerToken(store.claim({ namespace: 'ns', key: `abandoned${i}`, config }));
    clock.advance(config.leaseMs - 1);
    expect(store.renew({ namespace: 'ns', key: 'long call', token: long, config })).toBe(true);
    clock.advance(1); // every abandoned claim has lapsed; the long call has not

    ownerToken(store.claim({ namespace: 'ns', key: 'fresh', config }));

    expect(store.claim({ namespace: 'ns', key: 'long call', config }).kind).toBe('in-progress');
    expect(
      store.renew({ namespace: 'ns', key: 'abandoned999', token: String(1_001), config }),
    ).toBe(false); // swept
  });

  it('stays bounded: 100,000 distinct keys with maxEntries 1,000 leave exactly 1,000 entries', () => {
    const store = new InMemoryDedupeStore(new FakeClock());
    const bounded: DedupeConfig = { leaseMs: 10_000, maxEntries: 1_000 };
    for (let i = 0; i < 100_000; i++) {
      const token = ownerToken(store.claim({ namespace: 'ns', key: `k${i}`, config: bounded }));
      store.complete({
        namespace: 'ns',
        key: `k${i}`,
        token,
        value: i,
        ttlMs: 60_000,
        config: bounded,
      });
    }
    expect(store.size({ namespace: 'ns' })).toBe(1_000);
    expect(store.peekCached({ namespace: 'ns', key: 'k99999' })).toBe(true);
    expect(store.peekCached({ namespace: 'ns', key: 'k98999' })).toBe(false);
  });

  it('counts only live entries in size()', () => {
    const clock = new FakeClock();
    const store = new InMemoryDedupeStore(clock);
    cacheValue(store, 'short', 1, 100);
    cacheValue(store, 'long', 2, 10_000);
    clock.advance(100);
    expect(store.size({ namespace: 'ns' })).toBe(1);
    expect(store.size({ namespace: 'other' })).toBe(0);
  });

  it('a lapsed claim goes to the next claimant; the old token can no longer renew or fail it', () => {
    const clock = new FakeClock();
    const store = new InMemoryDedupeStore(clock);
    const first = ownerToken(store.claim({ namespace: 'ns', key: 'k', config }));
    clock.advance(5_000);
    expect(store.renew({ namespace: 'ns', key: 'k', token: first, config })).toBe(true);
    clock.advance(10_000);
    const second = ownerToken(store.claim({ namespace: 'ns', key: 'k', config }));
    expect(second).not.toBe(first);
    expect(store.renew({ namespace: 'ns', key: 'k', token: first, config })).toBe(false);
    store.fail({ namespace: 'ns', key: 'k', token: first, config });
    expect(store.claim({ namespace: 'ns', key: 'k', config }).kind).toBe('in-progress');
  });

  it('tells waiters how a claim ended: with the value, or not completed', async () => {
    const store = new InMemoryDedupeStore(new FakeClock());
    const token = ownerToken(store.claim({ namespace: 'ns', key: 'ok', config }));
    const waiting = store.claim({ namespace: 'ns', key: 'ok', config });
    store.complete({ namespace: 'ns', key: 'ok', token, value: 'v', ttlMs: 0, config });
    expect(waiting.kind === 'in-progress' && (await waiting.settled)).toEqual({
      completed: true,
      value: 'v',
    });
    const failing = ownerToken(store.claim({ namespace: 'ns', key: 'bad', config }));
    const waitingBad = store.claim({ namespace: 'ns', key: 'bad', config });
    store.fail({ namespace: 'ns', key: 'bad', token: failing, config });
    expect(waitingBad.kind === 'in-progress' && (await waitingBad.settled)).toEqual({
      completed: false,
    });
  });

  it('keeps the first cached result: a second complete does not overwrite it', () => {
    const store = new InMemoryDedupeStore(new FakeClock());
    cacheValue(store, 'k', 'first', 60_000);
    store.complete({
      namespace: 'ns',
      key: 'k',
      token: 'stale-token',
      value: 'second',
      ttlMs: 60_000,
      config,
    });
    expect(store.claim({ namespace: 'ns', key: 'k', config })).toEqual({
      kind: 'cached',
      value: 'first',
    });
  });

  it('with ttlMs 0 a complete only releases the claim of its own token', () => {
    const store = new InMemoryDedupeStore(new FakeClock());
    ownerToken(store.claim({ namespace: 'ns', key: 'k', config }));
    store.complete({
      namespace: 'ns',
      key: 'k',
      token: 'someone-else',
      value: 'v',
      ttlMs: 0,
      config,
    });
    expect(store.claim({ namespace: 'ns', key: 'k', config }).kind).toBe('in-progress');
  });

  it('forget drops a claim or a value', () => {
    const store = new InMemoryDedupeStore(new FakeClock());
    cacheValue(store, 'v', 1, 60_000);
    ownerToken(store.claim({ namespace: 'ns', key: 'c', config }));
    store.forget({ namespace: 'ns', key: 'v' });
    store.forget({ namespace: 'ns', key: 'c' });
    store.forget({ namespace: 'ns', key: 'absent' });
    expect(store.size({ namespace: 'ns' })).toBe(0);
  });
});
