import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { Observable, Subject, firstValueFrom, toArray } from 'rxjs';
import { Chain, type Call, type Layer, type Step } from '../core/layer.js';
import type { ReturnKind } from '../core/return-kind.js';
import { DedupeLayer } from '../dedupe/dedupe.layer.js';
import { Deduplicator } from '../dedupe/deduplicator.js';
import { Backpressure } from './backpressure.decorator.js';
import { BackpressureGuard } from './backpressure.policy.js';
import { BackpressureLayer } from './backpressure.layer.js';
import type { BackpressureOptions } from './backpressure-options.js';
import { isBackpressureShedError } from './backpressure-shed.error.js';
import { InMemoryBackpressureStore } from './in-memory-backpressure.store.js';

/** Counts what the guard asks of its store, to prove each slot is freed exactly once. */
class CountingStore extends InMemoryBackpressureStore {
  acquired = 0;
  released = 0;
  override acquire(...args: Parameters<InMemoryBackpressureStore['acquire']>) {
    const answer = super.acquire(...args);
    if (answer.granted) this.acquired++;
    return answer;
  }
  override release(...args: Parameters<InMemoryBackpressureStore['release']>): number {
    this.released++;
    return super.release(...args);
  }
}

function guarded(
  target: (...args: any[]) => unknown,
  kind: ReturnKind,
  options: BackpressureOptions = { capacity: 1 },
  inner: Layer[] = [],
) {
  const store = new CountingStore();
  const guard = new BackpressureGuard(options, store, { name: 'g' });
  const chain = new Chain([new BackpressureLayer(guard), ...inner], target, kind);
  return { store, guard, invoke: (...args: unknown[]) => chain.invoke(undefined, args) };
}

function gate<T = void>() {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

const SHED = { name: 'BackpressureShedError', code: 'BACKPRESSURE_SHED' };

const flush = () => new Promise((resolve) => setImmediate(resolve));

async function expectFreedOnce(store: CountingStore, guard: BackpressureGuard): Promise<void> {
  await flush();
  expect(store.acquired).toBe(1);
  expect(store.released).toBe(1);
  expect(await guard.depth()).toBe(0);
}

describe('@Backpressure: the cap', () => {
  it('lets 10,000 concurrent calls through a cap of 10, never more than 10 running, depth back to 0', async () => {
    let running = 0;
    let maxRunning = 0;
    let completed = 0;
    const { invoke, guard } = guarded(
      async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((resolve) => setImmediate(resolve));
        running--;
        completed++;
      },
      'promise',
      { capacity: 10, maxWaitMs: 60_000 },
    );
    await Promise.all(Array.from({ length: 10_000 }, () => invoke()));
    expect(completed).toBe(10_000);
    expect(maxRunning).toBe(10);
    expect(await guard.depth()).toBe(0);
  });

  it('without maxWaitMs runs exactly 10 of 10,000 concurrent calls and sheds the rest at once', async () => {
    let started = 0;
    const release = gate();
    const { invoke, guard } = guarded(
      async () => {
        started++;
        await release.promise;
      },
      'promise',
      { capacity: 10 },
    );
    const calls = Array.from({ length: 10_000 }, () => invoke() as Promise<unknown>);
    const sheds = await Promise.allSettled(calls.slice(10));
    expect(sheds.every((s) => s.status === 'rejected' && isBackpressureShedError(s.reason))).toBe(
      true,
    );
    expect(started).toBe(10);
    expect(await guard.depth()).toBe(10);
    release.open();
    await Promise.all(calls.slice(0, 10));
    expect(await guard.depth()).toBe(0);
  });
});

describe('@Backpressure frees the slot exactly once on every settle path', () => {
  it('a Promise that resolves', async () => {
    const { invoke, store, guard } = guarded(async () => 'ok', 'promise');
    expect(await invoke()).toBe('ok');
    await expectFreedOnce(store, guard);
  });

  it('a Promise that rejects', async () => {
    const { invoke, store, guard } = guarded(async () => {
      throw new Error('no');
    }, 'promise');
    await expect(invoke()).rejects.toThrow('no');
    await expectFreedOnce(store, guard);
  });

  it('a method that throws synchronously', async () => {
    const { invoke, store, guard } = guarded(function sync() {
      throw new Error('sync');
    }, 'promise');
    await expect(invoke()).rejects.toThrow('sync');
    await expectFreedOnce(store, guard);
  });

  it('an inner layer that throws synchronously', async () => {
    const throwing: Layer = {
      promise: () => {
        throw new Error('layer');
      },
      stream: () => {
        throw new Error('layer');
      },
    };
    const { invoke, store, guard } = guarded(async () => 'never', 'promise', { capacity: 1 }, [
      throwing,
    ]);
    await expect(invoke()).rejects.toThrow('layer');
    await expectFreedOnce(store, guard);
  });

  it('an Observable that completes', async () => {
    const { invoke, store, guard } = guarded(
      () =>
        new Observable((s) => {
          s.next(1);
          s.complete();
        }),
      'observable',
    );
    expect(await firstValueFrom((invoke() as Observable<number>).pipe(toArray()))).toEqual([1]);
    await expectFreedOnce(store, guard);
  });

  it('an Observable that errors', async () => {
    const { invoke, store, guard } = guarded(
      () => new Observable((s) => s.error(new Error('obs'))),
      'observable',
    );
    await expect(firstValueFrom(invoke() as Observable<number>)).rejects.toThrow('obs');
    await expectFreedOnce(store, guard);
  });

  it('an Observable that is unsubscribed, which also unsubscribes the source', async () => {
    const source = new Subject<number>();
    const { invoke, store, guard } = guarded(() => source.asObservable(), 'observable');
    const seen: number[] = [];
    const subscription = (invoke() as Observable<number>).subscribe((v) => seen.push(v));
    await flush();
    source.next(1);
    await flush();
    expect(await guard.depth()).toBe(1);
    subscription.unsubscribe();
    await flush();
    expect(seen).toEqual([1]);
    expect(source.observed).toBe(false);
    await expectFreedOnce(store, guard);
  });

  it('an AsyncIterable that finishes', async () => {
    const { invoke, store, guard } = guarded(async function* () {
      yield 1;
      yield 2;
    }, 'iterable');
    const items: unknown[] = [];
    for await (const item of invoke() as AsyncIterable<unknown>) items.push(item);
    expect(items).toEqual([1, 2]);
    await expectFreedOnce(store, guard);
  });

  it('an AsyncIterable that throws', async () => {
    const { invoke, store, guard } = guarded(async function* () {
      yield 1;
      throw new Error('mid-stream');
    }, 'iterable');
    const consume = async () => {
      for await (const _ of invoke() as AsyncIterable<unknown>) void _;
    };
    await expect(consume()).rejects.toThrow('mid-stream');
    await expectFreedOnce(store, guard);
  });

  it('an AsyncIterable abandoned with return(), which also ends the source', async () => {
    let sourceEnded = false;
    const { invoke, store, guard } = guarded(async function* () {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        sourceEnded = true;
      }
    }, 'iterable');
    for await (const item of invoke() as AsyncIterable<number>) if (item === 2) break;
    expect(sourceEnded).toBe(true);
    await expectFreedOnce(store, guard);
  });
});

describe('@Backpressure on streams', () => {
  it('takes the slot at the first next(), not when the stream is created', async () => {
    const { invoke, guard } = guarded(async function* () {
      yield 1;
    }, 'iterable');
    const iterator = (invoke() as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    expect(await guard.depth()).toBe(0);
    await iterator.next();
    expect(await guard.depth()).toBe(1);
    await iterator.return!();
    expect(await guard.depth()).toBe(0);
  });

  it('sheds a stream at its first next()', async () => {
    const { invoke } = guarded(async function* () {
      yield 1;
    }, 'iterable');
    const holding = (invoke() as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    await holding.next();
    const shed = (invoke() as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    await expect(shed.next()).rejects.toMatchObject(SHED);
    expect(await shed.next()).toEqual({ done: true, value: undefined });
  });

  it('frees nothing and starts nothing when a consumer leaves while waiting for a slot', async () => {
    let starts = 0;
    const { invoke, store, guard } = guarded(
      async function* () {
        starts++;
        yield 1;
      },
      'iterable',
      { capacity: 1, maxWaitMs: 60_000 },
    );
    const first = (invoke() as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    await first.next();
    const waiting = (invoke() as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    const pending = waiting.next();
    await waiting.return!();
    expect(await pending).toEqual({ done: true, value: undefined });
    await first.return!();
    await flush();
    expect(starts).toBe(1);
    expect(store.released).toBe(1);
    expect(await guard.depth()).toBe(0);
  });
});

describe('@Backpressure over @Dedupe', () => {
  it('admits dedupe hits without a slot: 100 identical calls through a cap of 1 all succeed', async () => {
    let executions = 0;
    const release = gate<string>();
    const deduplicator = new Deduplicator({}, undefined, { name: 'd' });
    const { invoke, store } = guarded(
      async (p: string) => {
        executions++;
        return `${p}:${await release.promise}`;
      },
      'promise',
      { capacity: 1 },
      [new DedupeLayer(deduplicator)],
    );
    const calls = Array.from({ length: 100 }, () => invoke('same') as Promise<string>);
    await expect(invoke('other')).rejects.toMatchObject(SHED);
    release.open('done');
    expect(new Set(await Promise.all(calls))).toEqual(new Set(['same:done']));
    expect(executions).toBe(1);
    expect(store.acquired).toBe(1);
  });

  it("keeps the leader's slot while a shared stream still runs for others, and frees it at the end", async () => {
    const items = new Subject<number>();
    let executions = 0;
    const deduplicator = new Deduplicator({}, undefined, { name: 'ds' });
    const { invoke, guard, store } = guarded(
      () => {
        executions++;
        return items.asObservable();
      },
      'iterable',
      { capacity: 1 },
      [new DedupeLayer(deduplicator)],
    );
    const leader = (invoke('p') as AsyncIterable<number>)[Symbol.asyncIterator]();
    const firstOfLeader = leader.next();
    await flush();
    const joiner = (invoke('p') as AsyncIterable<number>)[Symbol.asyncIterator]();
    const firstOfJoiner = joiner.next();
    items.next(1);
    expect((await firstOfLeader).value).toBe(1);
    expect((await firstOfJoiner).value).toBe(1);
    await leader.return!(); // the leader stops early
    await flush();
    expect(await guard.depth()).toBe(1); // the execution still runs for the joiner
    const rest = joiner.next();
    items.next(2);
    expect((await rest).value).toBe(2);
    items.complete();
    expect((await joiner.next()).done).toBe(true);
    await flush();
    expect(await guard.depth()).toBe(0);
    expect(store.released).toBe(1);
    expect(executions).toBe(1);
  });
});

describe('@Backpressure as a decorator', () => {
  it('caps an instance created with new, and sheds the call past capacity', async () => {
    const release = gate();
    class Worker {
      @Backpressure({ capacity: 1 })
      async work(): Promise<string> {
        await release.promise;
        return 'done';
      }
    }
    const worker = new Worker();
    const first = worker.work();
    await expect(worker.work()).rejects.toMatchObject(SHED);
    release.open();
    expect(await first).toBe('done');
    expect(await worker.work()).toBe('done');
  });

  it('fails at class definition for bad inline options', () => {
    expect(() => {
      class Bad {
        @Backpressure({ capacity: 2, softLimit: 2 })
        async m(): Promise<void> {}
      }
      return Bad;
    }).toThrow(
      '@Backpressure on Bad.m: backpressure.softLimit should be an integer >= 1 and < capacity (2), got 2',
    );
  });

  it('passes answersWithoutExecution through to inner layers', () => {
    const guard = new BackpressureGuard({ capacity: 1 });
    const layer = new BackpressureLayer(guard);
    const call: Call = { self: undefined, args: [] };
    const yes = { answersWithoutExecution: () => true } as unknown as Step;
    expect(layer.answersWithoutExecution(yes, call)).toBe(true);
  });
});
