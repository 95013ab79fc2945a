import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type {
  BackpressureAcquisition,
  BackpressureConfig,
  BackpressureStore,
} from '../../lib/backpressure/backpressure.store.js';

/** How a contract run gets its store; `destroy` runs once, after the suite. */
export interface BackpressureStoreFixture {
  create(): BackpressureStore | Promise<BackpressureStore>;
  destroy?(store: BackpressureStore): void | Promise<void>;
}

const config: BackpressureConfig = { capacity: 3, leaseMs: 300 };

let nameCounter = 0;
const freshName = (label: string) => `contract-${label}-${process.pid}-${++nameCounter}`;

function tokenOf(acquisition: BackpressureAcquisition): string {
  if (!acquisition.granted) throw new Error(`expected a slot, got ${JSON.stringify(acquisition)}`);
  return acquisition.token;
}

/**
 * The behaviour every `BackpressureStore` shares, so the in-memory and Redis stores are
 * interchangeable: never more than `capacity` slots, release, renew and hand-over by token,
 * depth, and, for a store whose leases expire, reclaiming a slot nobody renews.
 */
export function describeBackpressureStoreContract(
  label: string,
  fixture: BackpressureStoreFixture,
): void {
  describe(`BackpressureStore contract: ${label}`, () => {
    let store: BackpressureStore;

    beforeAll(async () => {
      store = await fixture.create();
    });
    afterAll(async () => {
      if (store !== undefined) await fixture.destroy?.(store);
    });

    const acquire = async (name: string) => store.acquire({ name, config });
    const depth = async (name: string) => store.depth({ name });
    const release = async (name: string, token: string) => store.release({ name, token });
    const renew = async (name: string, token: string) => store.renew({ name, token, config });
    /** With a lease no busy machine outlasts: these tests are about tokens, not time. */
    const steady: BackpressureConfig = { ...config, leaseMs: 60_000 };
    const acquireSteady = async (name: string) => store.acquire({ name, config: steady });
    const handOver = async (name: string, token: string) =>
      store.handOver({ name, token, config: steady, waiting: true });

    it('grants `capacity` slots with growing depth, then refuses', async () => {
      const name = freshName('cap');
      const grants = [await acquire(name), await acquire(name), await acquire(name)];

      expect(grants.map((g) => g.granted)).toEqual([true, true, true]);
      expect(grants.map((g) => g.depth)).toEqual([1, 2, 3]);
      expect(new Set(grants.map(tokenOf)).size).toBe(3);
      const refused = await acquire(name);
      expect(refused).toMatchObject({ granted: false, depth: 3 });
      expect(await depth(name)).toBe(3);
    });

    it('never grants more than `capacity` to concurrent callers', async () => {
      const name = freshName('race');

      const answers = await Promise.all(Array.from({ length: 20 }, () => acquire(name)));

      expect(answers.filter((a) => a.granted)).toHaveLength(config.capacity);
      expect(await depth(name)).toBe(config.capacity);
    });

    it('frees a slot on release, answers the new depth, and ignores a second release', async () => {
      const name = freshName('release');
      const tokens = [
        tokenOf(await acquire(name)),
        tokenOf(await acquire(name)),
        tokenOf(await acquire(name)),
      ];

      expect(await release(name, tokens[1])).toBe(2);
      expect(await release(name, tokens[1])).toBe(2);
      expect(await release(name, 'unknown-token')).toBe(2);

      expect((await acquire(name)).granted).toBe(true);
      expect((await acquire(name)).granted).toBe(false);
    });

    it('renews a held slot only', async () => {
      const name = freshName('renew');
      const token = tokenOf(await acquire(name));

      expect(await renew(name, token)).toBe(true);
      await release(name, token);
      expect(await renew(name, token)).toBe(false);
      expect(await renew(name, 'unknown-token')).toBe(false);
      expect(await depth(name)).toBe(0);
    });

    it('hands a held slot over: the old token is freed, a new one granted, the depth unchanged', async () => {
      const name = freshName('handover');
      const tokens = [
        tokenOf(await acquireSteady(name)),
        tokenOf(await acquireSteady(name)),
        tokenOf(await acquireSteady(name)),
      ];

      const next = await handOver(name, tokens[0]);

      expect(next).toMatchObject({ granted: true, depth: 3 });
      expect(tokens).not.toContain(tokenOf(next));
      const renewSteady = (token: string) => store.renew({ name, token, config: steady });
      expect(await renewSteady(tokens[0])).toBe(false);
      expect(await renewSteady(tokenOf(next))).toBe(true);
      expect((await acquireSteady(name)).granted).toBe(false);
      expect(await depth(name)).toBe(3);
    });

    it('never hands over a slot it no longer holds: a stale token frees nothing and earns nothing', async () => {
      const name = freshName('stale');
      const stale = tokenOf(await acquireSteady(name));
      await release(name, stale);
      for (let i = 0; i < config.capacity; i++) tokenOf(await acquireSteady(name));

      expect(await handOver(name, stale)).toMatchObject({ granted: false, depth: 3 });
      expect(await handOver(name, 'unknown-token')).toMatchObject({ granted: false, depth: 3 });
      expect(await depth(name)).toBe(3);
    });

    it('keeps names apart', async () => {
      const full = freshName('full');
      const other = freshName('other');
      for (let i = 0; i < config.capacity; i++) tokenOf(await acquire(full));

      expect((await acquire(other)).granted).toBe(true);
      expect(await depth(other)).toBe(1);
      expect(await depth(freshName('unused'))).toBe(0);
    });

    it('with expiring leases: reclaims a slot nobody renews and never re-adds it; a renewed slot stays', async () => {
      const name = freshName('lease');
      const renewed = tokenOf(await acquire(name));
      const abandoned = tokenOf(await acquire(name));
      await delay(config.leaseMs * 0.6);
      expect(await renew(name, renewed)).toBe(true);
      await delay(config.leaseMs * 0.6);

      if (!store.leasesExpire) {
        // A store without leases keeps every slot until it is released.
        expect(await depth(name)).toBe(2);
        return;
      }
      expect(await depth(name)).toBe(1);
      expect(await renew(name, abandoned)).toBe(false);
      expect(await renew(name, renewed)).toBe(true);
      expect(await depth(name)).toBe(1);
    });
  });
}
