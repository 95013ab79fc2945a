import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type {
  DedupeClaim,
  DedupeConfig,
  DedupeSettlement,
  DedupeStore,
} from '../../lib/dedupe/dedupe.store.js';
import { RecordedStream } from '../../lib/dedupe/shared-stream.js';

/** How a contract run gets its store; `destroy` runs once, after the suite. */
export interface DedupeStoreFixture {
  create(): DedupeStore | Promise<DedupeStore>;
  destroy?(store: DedupeStore): void | Promise<void>;
}

const config: DedupeConfig = { leaseMs: 300, maxEntries: 1000 };
const LONG_TTL = 60_000;

let namespaceCounter = 0;
/** A fresh namespace per test, so size() and keys never leak between tests. */
const freshNamespace = (label: string) => `contract-${label}-${process.pid}-${++namespaceCounter}`;

function tokenOf(claim: DedupeClaim): string {
  if (claim.kind !== 'owner') throw new Error(`expected owner, got ${JSON.stringify(claim)}`);
  return claim.token;
}

function settledOf(claim: DedupeClaim): Promise<DedupeSettlement> {
  if (claim.kind !== 'in-progress' || claim.settled === undefined) {
    throw new Error(`expected an in-progress claim with settled, got ${JSON.stringify(claim)}`);
  }
  return claim.settled;
}

/**
 * The behaviour every `DedupeStore` shares, so the in-memory and Redis stores are
 * interchangeable: claims and leases, results cached for their TTL (the first wins), waiters
 * told how a claim ended, renewals, lapsed claims, forget and size. Real time, short leases.
 */
export function describeDedupeStoreContract(label: string, fixture: DedupeStoreFixture): void {
  describe(`DedupeStore contract: ${label}`, () => {
    let store: DedupeStore;

    beforeAll(async () => {
      store = await fixture.create();
    });
    afterAll(async () => {
      if (store !== undefined) await fixture.destroy?.(store);
    });

    const claim = async (namespace: string, key: string) => store.claim({ namespace, key, config });
    const complete = async (
      namespace: string,
      key: string,
      token: string,
      value: unknown,
      ttlMs: number,
    ) => store.complete({ namespace, key, token, value, ttlMs, config });
    const fail = async (namespace: string, key: string, token: string, error?: unknown) =>
      store.fail({ namespace, key, token, error, config });
    const renew = async (namespace: string, key: string, token: string) =>
      store.renew({ namespace, key, token, config });
    const forget = async (namespace: string, key: string) => store.forget({ namespace, key });
    const size = async (namespace: string) => store.size({ namespace });

    async function cache(ns: string, key: string, value: unknown, ttlMs = LONG_TTL): Promise<void> {
      await complete(ns, key, tokenOf(await claim(ns, key)), value, ttlMs);
    }

    it('makes the first caller the owner and tells the next one the claim is in progress', async () => {
      const ns = freshNamespace('claim');
      const first = await claim(ns, 'k');
      const second = await claim(ns, 'k');

      expect(tokenOf(first)).not.toBe('');
      expect(second.kind).toBe('in-progress');
      if (second.kind !== 'in-progress') return;
      expect(second.leaseRemainingMs).toBeGreaterThan(0);
      expect(second.leaseRemainingMs).toBeLessThanOrEqual(config.leaseMs);
    });

    it.each([
      ['an object', { answer: 'forty-two', tokens: [1, 2, 3], nested: { ok: true, none: null } }],
      ['a string', 'plain text'],
      ['a number', 0],
      ['undefined', undefined],
    ])('serves a completed result (%s) from the cache for its TTL', async (_kind, value) => {
      const ns = freshNamespace('cached');
      await cache(ns, 'k', value);

      expect(await claim(ns, 'k')).toEqual({ kind: 'cached', value });
    });

    it('caches a finished stream as a RecordedStream', async () => {
      const ns = freshNamespace('stream');
      await cache(ns, 'k', new RecordedStream(['a', 'b']));

      const cached = await claim(ns, 'k');
      expect(cached.kind === 'cached' && cached.value).toBeInstanceOf(RecordedStream);
      expect(cached.kind === 'cached' && (cached.value as RecordedStream).items).toEqual([
        'a',
        'b',
      ]);
    });

    it('does not cache a result completed with ttlMs 0', async () => {
      const ns = freshNamespace('uncached');
      await cache(ns, 'k', 'v', 0);

      expect((await claim(ns, 'k')).kind).toBe('owner');
    });

    it('expires a cached result after its TTL', async () => {
      const ns = freshNamespace('expiry');
      await cache(ns, 'k', 'v', 250);
      expect((await claim(ns, 'k')).kind).toBe('cached');

      await delay(300);

      expect((await claim(ns, 'k')).kind).toBe('owner');
    });

    it('keeps the first cached result', async () => {
      const ns = freshNamespace('first-wins');
      await cache(ns, 'k', 'first');
      await complete(ns, 'k', 'stale-token', 'second', LONG_TTL);

      expect(await claim(ns, 'k')).toEqual({ kind: 'cached', value: 'first' });
    });

    it.each([0, LONG_TTL])(
      'hands the value to waiters when the owner completes (ttlMs %d)',
      async (ttlMs) => {
        const ns = freshNamespace('settle');
        const token = tokenOf(await claim(ns, 'k'));
        const waiting = settledOf(await claim(ns, 'k'));

        await complete(ns, 'k', token, { shared: 'value' }, ttlMs);

        expect(await waiting).toEqual({ completed: true, value: { shared: 'value' } });
      },
    );

    it('tells waiters a failed claim ended without a result, and frees the key', async () => {
      const ns = freshNamespace('fail');
      const token = tokenOf(await claim(ns, 'k'));
      const waiting = settledOf(await claim(ns, 'k'));

      await fail(ns, 'k', token);

      expect(await waiting).toMatchObject({ completed: false });
      expect((await claim(ns, 'k')).kind).toBe('owner');
    });

    it("hands the owner's error to waiters when it fails with one", async () => {
      const ns = freshNamespace('fail-error');
      const token = tokenOf(await claim(ns, 'k'));
      const waiting = settledOf(await claim(ns, 'k'));

      await fail(ns, 'k', token, Object.assign(new Error('provider down'), { status: 503 }));

      const settlement = await waiting;
      expect(settlement.completed).toBe(false);
      const error = !settlement.completed ? settlement.error : undefined;
      expect(error).toBeInstanceOf(Error);
      expect(error).toMatchObject({ message: 'provider down', status: 503 });
    });

    it('releases a claim only for its own token', async () => {
      const ns = freshNamespace('stranger');
      tokenOf(await claim(ns, 'k'));

      await fail(ns, 'k', 'someone-else');
      await complete(ns, 'k', 'someone-else', 'v', 0);

      expect((await claim(ns, 'k')).kind).toBe('in-progress');
    });

    it('keeps a renewed claim past its first lease; renew is false for any other token', async () => {
      const ns = freshNamespace('renew');
      const token = tokenOf(await claim(ns, 'k'));
      await delay(config.leaseMs * 0.6);

      expect(await renew(ns, 'k', token)).toBe(true);
      expect(await renew(ns, 'k', 'someone-else')).toBe(false);
      await delay(config.leaseMs * 0.6);

      expect((await claim(ns, 'k')).kind).toBe('in-progress');
    });

    it('gives a lapsed claim to the next claimant; the old token can no longer renew or fail it', async () => {
      const ns = freshNamespace('lapsed');
      const first = tokenOf(await claim(ns, 'k'));
      await delay(config.leaseMs + 50);

      const second = tokenOf(await claim(ns, 'k'));

      expect(second).not.toBe(first);
      expect(await renew(ns, 'k', first)).toBe(false);
      await fail(ns, 'k', first);
      expect((await claim(ns, 'k')).kind).toBe('in-progress');
    });

    it('forgets a cached result and a claim; waiters on the claim are told it ended', async () => {
      const ns = freshNamespace('forget');
      await cache(ns, 'cached', 1);
      tokenOf(await claim(ns, 'claimed'));
      const waiting = settledOf(await claim(ns, 'claimed'));

      await forget(ns, 'cached');
      await forget(ns, 'claimed');
      await forget(ns, 'absent');

      expect(await waiting).toMatchObject({ completed: false });
      expect((await claim(ns, 'cached')).kind).toBe('owner');
    });

    it('caches nothing when the owner completes after its claim lapsed', async () => {
      const ns = freshNamespace('lapsed-complete');
      const token = tokenOf(await claim(ns, 'k'));
      await delay(config.leaseMs + 50);

      await complete(ns, 'k', token, 'too late', LONG_TTL);

      expect((await claim(ns, 'k')).kind).toBe('owner');
    });

    it('never caches the result of a claim forgotten while it ran', async () => {
      const ns = freshNamespace('forgotten-running');
      const token = tokenOf(await claim(ns, 'k'));
      await forget(ns, 'k');

      await complete(ns, 'k', token, 'computed before the forget', LONG_TTL);

      expect((await claim(ns, 'k')).kind).toBe('owner');
    });

    it("never lets a forgotten claim's late result replace the claim that followed", async () => {
      const ns = freshNamespace('forgotten-then-claimed');
      const forgotten = tokenOf(await claim(ns, 'k'));
      await forget(ns, 'k');
      const next = tokenOf(await claim(ns, 'k'));
      const waiting = settledOf(await claim(ns, 'k'));

      await complete(ns, 'k', forgotten, 'stale', LONG_TTL);
      expect((await claim(ns, 'k')).kind).toBe('in-progress');
      await complete(ns, 'k', next, 'fresh', LONG_TTL);

      expect(await waiting).toEqual({ completed: true, value: 'fresh' });
      expect(await claim(ns, 'k')).toEqual({ kind: 'cached', value: 'fresh' });
    });

    it('counts live claims and cached results per namespace', async () => {
      const ns = freshNamespace('size');
      await cache(ns, 'long', 1);
      await cache(ns, 'short', 2, 250);
      tokenOf(
        await store.claim({ namespace: ns, key: 'claimed', config: { ...config, leaseMs: 5000 } }),
      );
      await cache(ns, 'uncached', 3, 0);
      expect(await size(ns)).toBe(3);

      await delay(300);

      expect(await size(ns)).toBe(2);
      expect(await size(freshNamespace('empty'))).toBe(0);
    });

    it('keeps namespaces apart', async () => {
      const a = freshNamespace('apart-a');
      const b = freshNamespace('apart-b');
      await cache(a, 'k', 'a');

      expect((await claim(b, 'k')).kind).toBe('owner');
      expect(await claim(a, 'k')).toEqual({ kind: 'cached', value: 'a' });
    });

    it('handles very long keys', async () => {
      const ns = freshNamespace('long-key');
      const key = 'x'.repeat(5000);
      await cache(ns, key, 'long');

      expect(await claim(ns, key)).toEqual({ kind: 'cached', value: 'long' });
      expect((await claim(ns, `${key}y`)).kind).toBe('owner');
    });
  });
}
