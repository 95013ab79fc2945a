import { describe, expect, it } from '@jest/globals';
import { isInvalidOptionsError } from '../core/invalid-options.error.js';
import { Deduplicator } from './deduplicator.js';
import { resolveDedupeOptions } from './dedupe-options.js';
import { InMemoryDedupeStore } from './in-memory-dedupe.store.js';
import { FakeClock } from '../../test/support/fake-clock.js';

describe('Deduplicator: the seed tests, ported', () => {
  it('test_deduplicator_new_key_is_new: a key never seen is new', async () => {
    const d = new Deduplicator({ ttlMs: 60_000 });
    expect(await d.checkAndRegister('key-1')).toEqual({ kind: 'new' });
  });

  it('test_deduplicator_second_check_is_in_progress: a registered key is in progress', async () => {
    const d = new Deduplicator({ ttlMs: 60_000 });
    await d.checkAndRegister('key-1');
    expect(await d.checkAndRegister('key-1')).toEqual({ kind: 'in-progress' });
  });

  it('test_deduplicator_complete_makes_cached: a completed key is served from the cache', async () => {
    const d = new Deduplicator({ ttlMs: 60_000 });
    await d.checkAndRegister('key-1');
    await d.complete('key-1', 'result-value');
    expect(await d.checkAndRegister('key-1')).toEqual({ kind: 'cached', value: 'result-value' });
  });

  it('test_deduplicator_different_keys_are_independent: another key is still new', async () => {
    const d = new Deduplicator({ ttlMs: 60_000 });
    await d.checkAndRegister('key-a');
    expect(await d.checkAndRegister('key-b')).toEqual({ kind: 'new' });
  });

  it('test_deduplicator_expired_entry_is_new: with a zero TTL a completed key is new again', async () => {
    const d = new Deduplicator({ ttlMs: 0 });
    await d.checkAndRegister('key-1');
    await d.complete('key-1', 'old');
    expect(await d.checkAndRegister('key-1')).toEqual({ kind: 'new' });
  });

  it('test_dedup_many_independent_keys: three distinct keys are all new, in order', async () => {
    const d = new Deduplicator({ ttlMs: 60_000 });
    const results = await d.dedupMany(['key-a', 'key-b', 'key-c']);
    expect(results).toHaveLength(3);
    expect(results.every((r) => r.kind === 'new')).toBe(true);
  });
});

describe('Deduplicator primitive, beyond the seed', () => {
  it('dedupMany reports a repeated key as in progress, and a cached one with its value', async () => {
    const d = new Deduplicator({ ttlMs: 1_000 });
    await d.checkAndRegister('done');
    await d.complete('done', 42);
    expect(await d.dedupMany(['x', 'x', 'done'])).toEqual([
      { kind: 'new' },
      { kind: 'in-progress' },
      { kind: 'cached', value: 42 },
    ]);
  });

  it('complete without a claim of its own caches the value, as the seed does (cache warming)', async () => {
    const d = new Deduplicator({ ttlMs: 60_000 });
    await d.complete('warm', 'preloaded');
    expect(await d.checkAndRegister('warm')).toEqual({ kind: 'cached', value: 'preloaded' });
  });

  it('complete on a key already cached replaces the value, for its own TTL', async () => {
    const clock = new FakeClock();
    const d = new Deduplicator({ ttlMs: 5_000 }, undefined, { clock });
    await d.complete('k', 'first');
    clock.advance(4_000);
    await d.complete('k', 'second');
    expect(await d.checkAndRegister('k')).toEqual({ kind: 'cached', value: 'second' });
    clock.advance(4_999);
    expect(await d.checkAndRegister('k')).toEqual({ kind: 'cached', value: 'second' });
    expect(await d.size()).toBe(1);
  });

  it('complete leaves a key someone else is running to them', async () => {
    const store = new InMemoryDedupeStore();
    const runner = new Deduplicator({ ttlMs: 60_000 }, store);
    const other = new Deduplicator({ ttlMs: 60_000 }, store);
    await runner.checkAndRegister('k');
    await other.complete('k', 'not theirs');
    expect(await other.checkAndRegister('k')).toEqual({ kind: 'in-progress' });
    await runner.complete('k', 'theirs');
    expect(await other.checkAndRegister('k')).toEqual({ kind: 'cached', value: 'theirs' });
  });

  it('forget while the caller holds the claim: its complete caches nothing', async () => {
    const d = new Deduplicator({ ttlMs: 60_000 });
    await d.checkAndRegister('k');
    await d.forget('k');
    await d.complete('k', 'computed before the forget');
    expect(await d.checkAndRegister('k')).toEqual({ kind: 'new' });
  });

  it('fail releases the claim without caching: the next check is new', async () => {
    const d = new Deduplicator({ ttlMs: 60_000 });
    await d.checkAndRegister('k');
    await d.fail('k');
    expect(await d.checkAndRegister('k')).toEqual({ kind: 'new' });
  });

  it('fail on a key the caller never claimed changes nothing', async () => {
    const d = new Deduplicator({ ttlMs: 60_000 });
    await d.fail('never');
    expect(await d.size()).toBe(0);
  });

  it('a cached value expires after ttlMs (fake clock)', async () => {
    const clock = new FakeClock();
    const d = new Deduplicator({ ttlMs: 5_000 }, undefined, { clock });
    await d.checkAndRegister('k');
    await d.complete('k', 'v');
    clock.advance(4_999);
    expect(await d.checkAndRegister('k')).toEqual({ kind: 'cached', value: 'v' });
    clock.advance(1);
    expect(await d.checkAndRegister('k')).toEqual({ kind: 'new' });
  });

  it('a claim never completed lapses after leaseMs, so a crashed owner does not block the key', async () => {
    const clock = new FakeClock();
    const d = new Deduplicator({ ttlMs: 60_000, leaseMs: 1_000 }, undefined, { clock });
    await d.checkAndRegister('k');
    clock.advance(999);
    expect(await d.checkAndRegister('k')).toEqual({ kind: 'in-progress' });
    clock.advance(1);
    expect(await d.checkAndRegister('k')).toEqual({ kind: 'new' });
  });

  it('forget drops a cached value', async () => {
    const d = new Deduplicator({ ttlMs: 60_000 });
    await d.checkAndRegister('k');
    await d.complete('k', 'v');
    await d.forget('k');
    expect(await d.checkAndRegister('k')).toEqual({ kind: 'new' });
  });

  it('two deduplicators on one store share state only under the same name', async () => {
    const store = new InMemoryDedupeStore();
    const a = new Deduplicator({ ttlMs: 1_000 }, store, { name: 'a' });
    const a2 = new Deduplicator({ ttlMs: 1_000 }, store, { name: 'a' });
    const b = new Deduplicator({ ttlMs: 1_000 }, store, { name: 'b' });
    await a.checkAndRegister('k');
    expect(await a2.checkAndRegister('k')).toEqual({ kind: 'in-progress' });
    expect(await b.checkAndRegister('k')).toEqual({ kind: 'new' });
  });

  it('validates its options as the seed does, with the field and value in the message', () => {
    expect(() => new Deduplicator({ ttlMs: -1 })).toThrow(
      'Deduplicator: dedupe.ttlMs should be a number >= 0, got -1',
    );
    expect(() => new Deduplicator({ maxEntries: 0 })).toThrow(
      'Deduplicator: dedupe.maxEntries should be an integer >= 1, got 0',
    );
    let error: unknown;
    try {
      resolveDedupeOptions({ key: 'x' as never }, 'policy "p"');
    } catch (e) {
      error = e;
    }
    expect(isInvalidOptionsError(error)).toBe(true);
    expect((error as Error).message).toBe('policy "p": dedupe.key should be a function, got "x"');
  });

  it('resolves defaults: in-flight only, 10,000 entries, 30 s lease', () => {
    expect(resolveDedupeOptions()).toEqual({ ttlMs: 0, maxEntries: 10_000, leaseMs: 30_000 });
  });
});
