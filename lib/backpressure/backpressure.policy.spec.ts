import { describe, expect, it, jest, afterEach } from '@jest/globals';
import type { EventSink, OrchestratorEvent } from '../core/events.js';
import { InvalidOptionsError } from '../core/invalid-options.error.js';
import { BackpressureGuard, SOFT_LIMIT_WARNING_INTERVAL_MS } from './backpressure.policy.js';
import { resolveBackpressureOptions } from './backpressure-options.js';
import { BackpressureShedError, isBackpressureShedError } from './backpressure-shed.error.js';
import {
  BackpressureStore,
  type BackpressureAcquireRequest,
  type BackpressureAcquisition,
  type BackpressureHandOverRequest,
  type BackpressureSlotRequest,
} from './backpressure.store.js';
import type { BackpressurePermit } from './backpressure-permit.js';
import { InMemoryBackpressureStore } from './in-memory-backpressure.store.js';
import { FakeClock } from '../../test/support/fake-clock.js';

function recorder(): EventSink & { events: OrchestratorEvent[] } {
  const events: OrchestratorEvent[] = [];
  return { active: true, events, emit: (event) => events.push(event) };
}

async function shedOf(promise: Promise<unknown>): Promise<BackpressureShedError> {
  try {
    await promise;
  } catch (error) {
    if (isBackpressureShedError(error)) return error;
    throw error;
  }
  throw new Error('expected a shed');
}

describe('BackpressureGuard: the seed tests, ported', () => {
  it('test_backpressure_guard_rejects_zero_capacity: capacity 0 is an InvalidOptionsError', () => {
    expect(() => new BackpressureGuard({ capacity: 0 })).toThrow(
      'BackpressureGuard: backpressure.capacity should be an integer >= 1, got 0',
    );
  });

  it('test_backpressure_guard_acquire_within_capacity: a slot is granted and counted', async () => {
    const g = new BackpressureGuard({ capacity: 5 });
    await expect(g.tryAcquire()).resolves.toBeUndefined();
    expect(await g.depth()).toBe(1);
  });

  it('test_backpressure_guard_sheds_when_full: the third acquire of two slots is shed', async () => {
    const g = new BackpressureGuard({ capacity: 2 });
    await g.tryAcquire();
    await g.tryAcquire();
    const shed = await shedOf(g.tryAcquire());
    expect(shed).toBeInstanceOf(BackpressureShedError);
    expect(shed).toMatchObject({ code: 'BACKPRESSURE_SHED', depth: 2, capacity: 2 });
  });

  it('test_backpressure_guard_release_decrements_depth: two acquires, one release, depth 1', async () => {
    const g = new BackpressureGuard({ capacity: 3 });
    await g.tryAcquire();
    await g.tryAcquire();
    await g.release();
    expect(await g.depth()).toBe(1);
  });

  it('test_backpressure_guard_release_on_empty_is_noop: release with nothing held keeps depth 0', async () => {
    const g = new BackpressureGuard({ capacity: 3 });
    await expect(g.release()).resolves.toBeUndefined();
    expect(await g.depth()).toBe(0);
  });

  it('test_backpressure_soft_limit_rejects_invalid_config: a soft limit >= capacity is refused', () => {
    expect(() => new BackpressureGuard({ capacity: 5, softLimit: 5 })).toThrow(
      'BackpressureGuard: backpressure.softLimit should be an integer >= 1 and < capacity (5), got 5',
    );
    expect(() => new BackpressureGuard({ capacity: 5, softLimit: 6 })).toThrow(InvalidOptionsError);
  });

  it('test_backpressure_soft_limit_accepts_requests_below_soft: acquires below it succeed', async () => {
    const g = new BackpressureGuard({ capacity: 5, softLimit: 2 });
    await g.tryAcquire();
    await g.tryAcquire();
    expect(await g.depth()).toBe(2);
  });

  it('test_backpressure_with_soft_limit_still_sheds_at_hard_capacity: the hard cap holds', async () => {
    const g = new BackpressureGuard({ capacity: 3, softLimit: 2 });
    await g.tryAcquire();
    await g.tryAcquire();
    await g.tryAcquire();
    expect(isBackpressureShedError(await shedOf(g.tryAcquire()))).toBe(true);
  });

  it('test_backpressure_hard_capacity_matches_new: hardCapacity is the configured capacity', () => {
    expect(new BackpressureGuard({ capacity: 7 }).hardCapacity()).toBe(7);
  });

  it('test_backpressure_concurrent_acquires_are_consistent: 10 concurrent acquires give depth 10', async () => {
    const g = new BackpressureGuard({ capacity: 100 });
    await Promise.all(Array.from({ length: 10 }, () => g.tryAcquire().catch(() => undefined)));
    expect(await g.depth()).toBe(10);
  });
});

describe('BackpressureGuard: soft limit, shed details, options', () => {
  it('softDepthRatio is 0 without a soft limit, else depth / softLimit', async () => {
    const plain = new BackpressureGuard({ capacity: 4 });
    await plain.tryAcquire();
    expect(await plain.softDepthRatio()).toBe(0);
    const soft = new BackpressureGuard({ capacity: 4, softLimit: 2 });
    await soft.tryAcquire();
    expect(await soft.softDepthRatio()).toBe(0.5);
    await soft.tryAcquire();
    await soft.tryAcquire();
    expect(await soft.softDepthRatio()).toBe(1.5);
  });

  it('emits a soft-limit event on each acquire at or above it, and warns at most once per interval', async () => {
    const clock = new FakeClock();
    const events = recorder();
    const warnings: string[] = [];
    const g = new BackpressureGuard({ capacity: 5, softLimit: 2 }, undefined, {
      clock,
      events,
      name: 'llm',
      logger: { warn: (m) => warnings.push(m) },
    });
    await g.tryAcquire();
    expect(events.events).toEqual([]);
    await g.tryAcquire();
    await g.tryAcquire();
    expect(events.events).toEqual([
      { type: 'backpressure.soft-limit', guard: 'llm', depth: 2, softLimit: 2, capacity: 5 },
      { type: 'backpressure.soft-limit', guard: 'llm', depth: 3, softLimit: 2, capacity: 5 },
    ]);
    expect(warnings).toEqual([
      'backpressure "llm": 2 calls in flight reached the soft limit of 2 (capacity 5)',
    ]);
    clock.advance(SOFT_LIMIT_WARNING_INTERVAL_MS);
    await g.tryAcquire();
    expect(warnings[1]).toBe(
      'backpressure "llm": 4 calls in flight reached the soft limit of 2 (capacity 5); 1 more times since the last warning',
    );
  });

  it('times one slot in 8 once a hold time is known, and its estimate still follows a change', async () => {
    const clock = new FakeClock();
    const readings = jest.spyOn(clock, 'now');
    const g = new BackpressureGuard({ capacity: 1 }, undefined, { clock });
    const holdFor = async (ms: number) => {
      await g.tryAcquire();
      clock.advance(ms);
      await g.release();
    };
    /** The hint given to a caller shed while one slot is held for `ms`. */
    const shedWhileHolding = async (ms: number) => {
      await g.tryAcquire();
      const shed = await shedOf(g.tryAcquire());
      clock.advance(ms);
      await g.release();
      return shed.retryAfterMs;
    };
    await holdFor(400);
    expect(await shedWhileHolding(400)).toBe(400);

    readings.mockClear();
    for (let i = 0; i < 80; i++) await holdFor(4_000);

    expect(readings).toHaveBeenCalledTimes(20); // 10 timed slots, two readings each
    const estimate = await shedWhileHolding(4_000);
    expect(estimate).toBeGreaterThan(3_500); // the hold grew tenfold: so did the hint
    expect(estimate).toBeLessThanOrEqual(4_000);
  });

  it('sheds with retryAfterMs 1000 before any hold was observed, then estimates from hold times', async () => {
    const clock = new FakeClock();
    const events = recorder();
    const g = new BackpressureGuard({ capacity: 2 }, undefined, { clock, events, name: 'g' });
    await g.tryAcquire();
    await g.tryAcquire();
    const first = await shedOf(g.tryAcquire());
    expect(first).toMatchObject({ guard: 'g', depth: 2, capacity: 2, retryAfterMs: 1000 });
    expect(first.stack).not.toMatch(/backpressure\.policy|slot-engine|backpressure-telemetry/); // built without a stack on the hot path
    clock.advance(400);
    await g.release(); // held 400 ms
    await g.tryAcquire();
    const second = await shedOf(g.tryAcquire());
    expect(second.retryAfterMs).toBe(200); // 400 ms average hold / 2 slots
    expect(events.events.filter((e) => e.type === 'backpressure.shed')).toEqual([
      { type: 'backpressure.shed', guard: 'g', depth: 2, capacity: 2, waited: false },
      { type: 'backpressure.shed', guard: 'g', depth: 2, capacity: 2, waited: false },
    ]);
  });

  it('validates every field with the policy, the field, the rule and the value', () => {
    const message = (options: object) => {
      try {
        resolveBackpressureOptions(options as never, 'policy "x"');
      } catch (error) {
        return (error as Error).message;
      }
      return 'valid';
    };
    expect(message({ capacity: 0 })).toBe(
      'policy "x": backpressure.capacity should be an integer >= 1, got 0',
    );
    expect(message({})).toBe(
      'policy "x": backpressure.capacity should be an integer >= 1, got undefined',
    );
    expect(message({ capacity: 2, softLimit: 0 })).toBe(
      'policy "x": backpressure.softLimit should be an integer >= 1 and < capacity (2), got 0',
    );
    expect(message({ capacity: 2, maxWaitMs: -1 })).toBe(
      'policy "x": backpressure.maxWaitMs should be a number >= 0, got -1',
    );
    expect(message({ capacity: 2, maxQueue: 1.5 })).toBe(
      'policy "x": backpressure.maxQueue should be an integer >= 0, got 1.5',
    );
    expect(message({ capacity: 2, softLimit: 1, maxWaitMs: 10, maxQueue: 0 })).toBe('valid');
    expect(resolveBackpressureOptions({ capacity: 3 })).toEqual({
      capacity: 3,
      maxWaitMs: 0,
      maxQueue: Infinity,
      leaseMs: 30_000,
    });
  });
});

describe('BackpressureGuard: waiting for a slot', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('hands freed slots to waiters in arrival order, and a newcomer cannot overtake them', async () => {
    const events = recorder();
    const g = new BackpressureGuard({ capacity: 1, maxWaitMs: 10_000 }, undefined, { events });
    const holder = await g.acquire();
    const order: string[] = [];
    const waiters = ['first', 'second', 'third'].map((name) =>
      g.acquire().then((permit) => {
        order.push(name);
        return permit;
      }),
    );
    expect(events.events.filter((e) => e.type === 'backpressure.waiting')).toHaveLength(3);
    holder.release();
    const first = await waiters[0];
    // A newcomer queues behind the two still waiting, although it arrives as a slot turns over.
    const newcomer = g.acquire().then((permit) => {
      order.push('newcomer');
      return permit;
    });
    first.release();
    (await waiters[1]).release();
    (await waiters[2]).release();
    (await newcomer).release();
    expect(order).toEqual(['first', 'second', 'third', 'newcomer']);
    expect(await g.depth()).toBe(0);
  });

  it('sheds a waiter whose maxWaitMs runs out (fake timers)', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const events = recorder();
    const g = new BackpressureGuard({ capacity: 1, maxWaitMs: 500 }, undefined, {
      events,
      name: 'w',
    });
    await g.acquire();
    const waiting = shedOf(g.acquire());
    await jest.advanceTimersByTimeAsync(499);
    expect(events.events.some((e) => e.type === 'backpressure.shed')).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    const shed = await waiting;
    expect(shed).toMatchObject({ guard: 'w', depth: 1, capacity: 1, waitedMs: 500 });
    expect(shed.message).toContain('no slot within 500 ms');
    expect(events.events.at(-1)).toEqual({
      type: 'backpressure.shed',
      guard: 'w',
      depth: 1,
      capacity: 1,
      waited: true,
    });
    expect(await g.depth()).toBe(1);
  });

  it('sheds waiters one by one at their own deadlines, with a single timer', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const g = new BackpressureGuard({ capacity: 1, maxWaitMs: 1_000 });
    await g.acquire();
    const settled: string[] = [];
    const a = g.acquire().catch(() => settled.push('a'));
    await jest.advanceTimersByTimeAsync(300);
    const b = g.acquire().catch(() => settled.push('b'));
    await jest.advanceTimersByTimeAsync(700);
    expect(settled).toEqual(['a']);
    await jest.advanceTimersByTimeAsync(300);
    expect(settled).toEqual(['a', 'b']);
    await Promise.all([a, b]);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('sheds at once beyond maxQueue waiters', async () => {
    const g = new BackpressureGuard({ capacity: 1, maxWaitMs: 10_000, maxQueue: 1 });
    const holder = await g.acquire();
    const queued = g.acquire();
    const shed = await shedOf(g.acquire());
    expect(shed.waitedMs).toBe(0);
    holder.release();
    (await queued).release();
    expect(await g.depth()).toBe(0);
  });

  it('tryAcquire never waits, even with maxWaitMs', async () => {
    const g = new BackpressureGuard({ capacity: 1, maxWaitMs: 10_000 });
    await g.tryAcquire();
    expect(isBackpressureShedError(await shedOf(g.tryAcquire()))).toBe(true);
  });

  it('a waiter whose signal aborts leaves the queue, and the slot goes to the next one', async () => {
    const g = new BackpressureGuard({ capacity: 1, maxWaitMs: 10_000 });
    const holder = await g.acquire();
    const leaving = new AbortController();
    const gaveUp = g.acquire(leaving.signal);
    const next = g.acquire();
    leaving.abort(new Error('client went away'));
    await expect(gaveUp).rejects.toThrow('client went away');
    holder.release();
    (await next).release();
    expect(await g.depth()).toBe(0);
  });

  it('refuses a caller whose signal has already aborted, even with a slot free, and takes no slot', async () => {
    const g = new BackpressureGuard({ capacity: 2, maxWaitMs: 10_000 });
    const left = new AbortController();
    left.abort(new Error('client went away'));

    await expect(g.acquire(left.signal)).rejects.toThrow('client went away');

    expect(await g.depth()).toBe(0);
    (await g.acquire()).release();
  });

  it('gives back a slot granted while its caller left (the signal aborted during the decision)', async () => {
    /** Answers acquires a microtask late, as a networked store would. */
    class SlowStore extends BackpressureStore {
      readonly inner = new InMemoryBackpressureStore();
      async acquire(request: BackpressureAcquireRequest): Promise<BackpressureAcquisition> {
        return this.inner.acquire(request);
      }
      release = (request: BackpressureSlotRequest) => this.inner.release(request);
      renew = (request: BackpressureSlotRequest) => this.inner.renew(request);
      depth = (request: { name: string }) => this.inner.depth(request);
    }
    const g = new BackpressureGuard({ capacity: 1 }, new SlowStore());
    const leaving = new AbortController();
    const acquiring = g.acquire(leaving.signal);
    leaving.abort(new Error('client went away'));

    await expect(acquiring).rejects.toThrow('client went away');
    expect(await g.depth()).toBe(0);
  });

  it('releases a slot whose hand-over failed, and the waiter still gets one at its next poll', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    class FailingHandOver extends InMemoryBackpressureStore {
      // A leasing store: only those are asked to hand a freed slot over.
      override readonly leasesExpire = true;
      override handOver(): never {
        throw new Error('store away');
      }
    }
    const events = recorder();
    const g = new BackpressureGuard({ capacity: 1, maxWaitMs: 5_000 }, new FailingHandOver(), {
      events,
      name: 'h',
    });
    const holder = await g.acquire();
    const waiting = g.acquire();

    holder.release();

    expect(await g.depth()).toBe(0);
    expect(events.events).toContainEqual(
      expect.objectContaining({ type: 'store.error', operation: 'handOver', name: 'h' }),
    );
    await jest.advanceTimersByTimeAsync(100);
    (await waiting).release();
    expect(await g.depth()).toBe(0);
  });

  it('frees a slot once, however often release() is called', async () => {
    class CountingStore extends InMemoryBackpressureStore {
      releases = 0;
      override release(request: BackpressureSlotRequest): number {
        this.releases++;
        return super.release(request);
      }
    }
    const store = new CountingStore();
    const g = new BackpressureGuard({ capacity: 2 }, store);
    const permit = await g.acquire();
    permit.release();
    permit.release();
    expect(store.releases).toBe(1);
  });

  describe('a freed slot and the oldest waiter', () => {
    class HandOverCounter extends InMemoryBackpressureStore {
      handOvers = 0;
      constructor(override readonly leasesExpire: boolean) {
        super();
      }
      override handOver(request: BackpressureHandOverRequest): BackpressureAcquisition {
        this.handOvers++;
        return super.handOver(request);
      }
    }

    async function handOverOnce(store: HandOverCounter): Promise<string> {
      const g = new BackpressureGuard({ capacity: 1, maxWaitMs: 5_000, leaseMs: 60_000 }, store);
      const holder = (await g.acquire()) as BackpressurePermit & { token: string };
      const waiting = g.acquire();
      holder.release();
      const next = (await waiting) as BackpressurePermit & { token: string };
      expect(await g.depth()).toBe(1);
      next.release();
      expect(await g.depth()).toBe(0);
      return next.token === holder.token ? 'same token' : 'new token';
    }

    it('passes straight on, token and all, when the store says its slots never lapse', async () => {
      const store = new HandOverCounter(false);
      expect(await handOverOnce(store)).toBe('same token');
      expect(store.handOvers).toBe(0);
    });

    it('goes through the store, which re-validates it, when leases expire', async () => {
      const store = new HandOverCounter(true);
      expect(await handOverOnce(store)).toBe('new token');
      expect(store.handOvers).toBe(1);
    });
  });

  it('the in-memory store matches only the decimal tokens it handed out', async () => {
    const store = new InMemoryBackpressureStore();
    const config = { capacity: 5, leaseMs: 1_000 };
    const granted: string[] = [];
    for (let i = 0; i < 3; i++) {
      const a = store.acquire({ name: 'n', config });
      if (a.granted) granted.push(a.token);
    }
    expect(granted.every((token) => /^[1-9][0-9]*$/.test(token))).toBe(true);
    const t = granted[1];
    const lookalikes = ['', `0${t}`, `${t}.0`, ` ${t}`, `${t} `, `+${t}`, `${t}e0`, '9'.repeat(16)];
    for (const foreign of [...lookalikes, String(Number(t) + 2 ** 30), '-1', 'abc'])
      expect(store.release({ name: 'n', token: foreign })).toBe(3);
    expect(store.renew({ name: 'n', token: t })).toBe(true);
    expect(store.release({ name: 'n', token: t })).toBe(2);
    expect(store.release({ name: 'other', token: t })).toBe(0);
  });

  it('gives a waiter a slot freed outside the guard (another process), found by polling the store', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const store = new InMemoryBackpressureStore();
    const here = new BackpressureGuard({ capacity: 1, maxWaitMs: 5_000 }, store, {
      name: 'shared',
    });
    const elsewhere = new BackpressureGuard({ capacity: 1 }, store, { name: 'shared' });
    const remote = await elsewhere.acquire();
    const waiting = here.acquire();
    remote.release();
    await jest.advanceTimersByTimeAsync(100);
    (await waiting).release();
    expect(await here.depth()).toBe(0);
  });

  it('does not let a newcomer take a free slot ahead of a waiter', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const store = new InMemoryBackpressureStore();
    const here = new BackpressureGuard({ capacity: 1, maxWaitMs: 5_000 }, store, { name: 's' });
    const elsewhere = new BackpressureGuard({ capacity: 1 }, store, { name: 's' });
    const remote = await elsewhere.acquire();
    const order: string[] = [];
    const waiter = here.acquire().then((p) => (order.push('waiter'), p));
    remote.release(); // the store now has a free slot the waiter has not noticed yet
    const newcomer = here.acquire().then((p) => (order.push('newcomer'), p));
    await jest.advanceTimersByTimeAsync(100);
    expect(order).toEqual(['waiter']);
    (await waiter).release();
    (await newcomer).release();
    expect(order).toEqual(['waiter', 'newcomer']);
  });
});

describe('BackpressureGuard over a store that leases slots', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  class LeasingStore extends BackpressureStore {
    renewals: string[] = [];
    lost = false;
    private held = new Set<string>();
    private next = 0;
    acquire({ config }: BackpressureAcquireRequest): BackpressureAcquisition {
      if (this.held.size >= config.capacity)
        return { granted: false, depth: this.held.size, retryAfterMs: 750 };
      const token = `t${++this.next}`;
      this.held.add(token);
      return { granted: true, token, depth: this.held.size };
    }
    async release({ token }: BackpressureSlotRequest): Promise<number> {
      this.held.delete(token);
      return this.held.size;
    }
    async renew({ token }: BackpressureSlotRequest): Promise<boolean> {
      this.renewals.push(token);
      return !this.lost;
    }
    depth(): number {
      return this.held.size;
    }
  }

  it("caps a store's lease-based hint at 1 s until a hold time is observed", async () => {
    class LongLeaseStore extends LeasingStore {
      override acquire(request: BackpressureAcquireRequest): BackpressureAcquisition {
        const answer = super.acquire(request);
        return answer.granted ? answer : { ...answer, retryAfterMs: 30_000 };
      }
    }
    const guard = new BackpressureGuard({ capacity: 1 }, new LongLeaseStore(), { name: 'g' });
    await guard.tryAcquire();
    const shed = await guard.tryAcquire().catch((error: unknown) => error);
    expect(isBackpressureShedError(shed)).toBe(true);
    expect(shed).toMatchObject({ retryAfterMs: 1000 });
    const shorter = new BackpressureGuard({ capacity: 1 }, new LeasingStore(), { name: 'h' });
    await shorter.tryAcquire();
    await expect(shorter.tryAcquire()).rejects.toMatchObject({ retryAfterMs: 750 });
  });

  it('renews held slots every leaseMs / 3 until they are released, and reports a lost lease', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const store = new LeasingStore();
    const events = recorder();
    const g = new BackpressureGuard({ capacity: 2, leaseMs: 300 }, store, { events, name: 'l' });
    const permit = await g.acquire();
    await jest.advanceTimersByTimeAsync(250);
    expect(store.renewals).toEqual(['t1', 't1']);
    store.lost = true;
    await jest.advanceTimersByTimeAsync(100);
    expect(events.events).toContainEqual(
      expect.objectContaining({
        type: 'store.error',
        primitive: 'backpressure',
        operation: 'renew',
      }),
    );
    permit.release();
    const after = store.renewals.length;
    await jest.advanceTimersByTimeAsync(1_000);
    expect(store.renewals.length).toBe(after);
    expect(jest.getTimerCount()).toBe(0);
  });

  it("uses the store's retry hint before it has observed a hold", async () => {
    const g = new BackpressureGuard({ capacity: 1 }, new LeasingStore());
    await g.tryAcquire();
    expect((await shedOf(g.tryAcquire())).retryAfterMs).toBe(750);
  });
});
