import 'reflect-metadata';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Observable, firstValueFrom, toArray } from 'rxjs';
import { FakeClock, flushMicrotasks } from '../../test/support/fake-clock.js';
import { BackpressureGuard } from '../backpressure/backpressure.policy.js';
import { BackpressureLayer } from '../backpressure/backpressure.layer.js';
import { Chain, type Call, type Layer, type Step } from '../core/layer.js';
import type { ReturnKind } from '../core/return-kind.js';
import { RetryLayer } from '../retry/retry.layer.js';
import { RetryPolicy } from '../retry/retry.policy.js';
import { isTimeoutError, TimeoutError } from './timeout.error.js';
import { TimeoutLayer } from './timeout.layer.js';
import type { TimeoutOptions } from './timeout-options.js';

/** Records the signal each attempt hands to the rest of the chain. */
class SignalSpy implements Layer {
  readonly signals: AbortSignal[] = [];
  promise(next: Step, call: Call): Promise<unknown> {
    this.signals.push(call.signal!);
    return next.promise(call);
  }
  stream(next: Step, call: Call): AsyncIterable<unknown> {
    this.signals.push(call.signal!);
    return next.stream(call);
  }
}

function timed(
  target: Function,
  options: number | TimeoutOptions = 1_000,
  kind: ReturnKind = 'promise',
) {
  const layer = new TimeoutLayer(options, { name: 'llm' });
  const spy = new SignalSpy();
  const chain = new Chain([layer, spy], target, kind);
  return { layer, spy, chain, invoke: () => chain.invoke(undefined, []) };
}

/** A promise that never settles unless told to. */
function deferred<T = unknown>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Tracks a promise's outcome without ever leaving it unhandled. */
function observe(promise: unknown) {
  const state: { status: 'pending' | 'resolved' | 'rejected'; value?: unknown } = {
    status: 'pending',
  };
  (promise as Promise<unknown>).then(
    (value) => Object.assign(state, { status: 'resolved', value }),
    (value) => Object.assign(state, { status: 'rejected', value }),
  );
  return state;
}

const never = () => new Promise(() => undefined);

beforeEach(() => {
  jest.useFakeTimers();
});
afterEach(() => {
  jest.useRealTimers();
});

describe('TimeoutLayer, promises', () => {
  it('rejects a hung call with a TimeoutError at ms and aborts the attempt signal with it', async () => {
    const { spy, invoke } = timed(never, 1_000);
    const outcome = observe(invoke());
    await jest.advanceTimersByTimeAsync(999);
    expect(outcome.status).toBe('pending');
    expect(spy.signals[0].aborted).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    expect(outcome.status).toBe('rejected');
    const error = outcome.value as TimeoutError;
    expect(isTimeoutError(error)).toBe(true);
    expect(error).toMatchObject({ policy: 'llm', timeoutMs: 1_000, phase: 'call' });
    expect(spy.signals[0].aborted).toBe(true);
    expect(spy.signals[0].reason).toBe(error);
  });

  it('passes a result through and forgets the deadline', async () => {
    const { layer, spy, invoke } = timed(async () => 42);
    await expect(invoke()).resolves.toBe(42);
    expect(layer.calls.size).toBe(0);
    expect(spy.signals[0].aborted).toBe(false);
    await jest.advanceTimersByTimeAsync(5_000);
    expect(spy.signals[0].aborted).toBe(false);
  });

  it('passes a failure through unchanged', async () => {
    const boom = new Error('boom');
    const { layer, invoke } = timed(async () => Promise.reject(boom));
    await expect(invoke()).rejects.toBe(boom);
    expect(layer.calls.size).toBe(0);
  });

  it('drops a late result and a late failure, leaving no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const late = [deferred(), deferred()];
      let index = 0;
      const { invoke } = timed(() => late[index++].promise, 100);
      const first = observe(invoke());
      const second = observe(invoke());
      await jest.advanceTimersByTimeAsync(100);
      late[0].resolve('late');
      late[1].reject(new Error('late failure'));
      jest.useRealTimers(); // unhandled rejections are reported after the microtasks drain
      await new Promise((resolve) => setImmediate(resolve));
      for (const outcome of [first, second]) {
        expect(outcome.status).toBe('rejected');
        expect(isTimeoutError(outcome.value)).toBe(true);
      }
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it("aborts the attempt with the caller's reason and rejects at once", async () => {
    const { layer, spy, chain } = timed(never, 1_000);
    const caller = new AbortController();
    const outcome = observe(chain.run(undefined, [], caller.signal));
    await jest.advanceTimersByTimeAsync(10);
    const reason = new Error('caller left');
    caller.abort(reason);
    await flushMicrotasks();
    expect(outcome).toEqual({ status: 'rejected', value: reason });
    expect(spy.signals[0].aborted).toBe(true);
    expect(spy.signals[0].reason).toBe(reason);
    expect(layer.calls.size).toBe(0);
  });

  it('does not start the method when the caller already aborted', async () => {
    const target = jest.fn(never);
    const { chain } = timed(target);
    await expect(chain.run(undefined, [], AbortSignal.abort('gone'))).rejects.toBe('gone');
    expect(target).not.toHaveBeenCalled();
  });

  it('removes its listener from the caller signal when the call settles', async () => {
    const caller = new AbortController();
    const added = jest.spyOn(caller.signal, 'addEventListener');
    const removed = jest.spyOn(caller.signal, 'removeEventListener');
    const { chain } = timed(async () => 1);
    await chain.run(undefined, [], caller.signal);
    expect(added).toHaveBeenCalledTimes(1);
    expect(removed).toHaveBeenCalledWith('abort', added.mock.calls[0][1]);
  });

  it('gives a signal read after the timeout already aborted', async () => {
    const layer = new TimeoutLayer(100, { name: 'llm' });
    let call: Call | undefined;
    const lazy: Layer = {
      promise: (_next, c) => {
        call = c;
        return never();
      },
      stream: (next, c) => next.stream(c),
    };
    const outcome = observe(new Chain([layer, lazy], never, 'promise').invoke(undefined, []));
    await jest.advanceTimersByTimeAsync(100);
    expect(outcome.status).toBe('rejected');
    expect(call!.signal!.aborted).toBe(true);
    expect(call!.signal!.reason).toBe(outcome.value);
  });

  it('shares one timer among many pending calls', async () => {
    const { layer, invoke } = timed(never, 1_000);
    const outcomes = [];
    for (let i = 0; i < 50; i++) {
      outcomes.push(observe(invoke()));
      await jest.advanceTimersByTimeAsync(10);
    }
    expect(jest.getTimerCount()).toBe(1);
    expect(layer.calls.size).toBe(50);
    // Calls started at 0, 10, ..., 490 ms; it is 500 ms now. At 1,000 ms only the first is due.
    await jest.advanceTimersByTimeAsync(500);
    expect(outcomes.map((o) => o.status).indexOf('pending')).toBe(1);
    expect(jest.getTimerCount()).toBe(1);
    await jest.advanceTimersByTimeAsync(489);
    expect(outcomes.filter((o) => o.status === 'pending')).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(outcomes.every((o) => isTimeoutError(o.value))).toBe(true);
    expect(layer.calls.size).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('gives each attempt the full ms under a RetryLayer', async () => {
    const retry = new RetryLayer(
      new RetryPolicy({ maxAttempts: 3, baseDelayMs: 10, jitter: 'none', retryOn: () => true }),
    );
    const timeout = new TimeoutLayer(100, { name: 'llm' });
    let attempts = 0;
    const target = () => (++attempts < 3 ? never() : Promise.resolve('third'));
    const chain = new Chain([retry, timeout], target, 'promise');
    const outcome = observe(chain.invoke(undefined, []));
    await jest.advanceTimersByTimeAsync(100); // attempt 1 times out at 100
    expect(attempts).toBe(1);
    await jest.advanceTimersByTimeAsync(10); // attempt 2 starts at 110
    expect(attempts).toBe(2);
    await jest.advanceTimersByTimeAsync(99);
    expect(attempts).toBe(2); // not cut short by the first attempt's deadline
    await jest.advanceTimersByTimeAsync(1 + 20); // times out at 210, retried after 20 ms
    expect(attempts).toBe(3);
    expect(outcome).toEqual({ status: 'resolved', value: 'third' });
  });

  it('frees a backpressure slot held above it at the timeout, though the method never settles', async () => {
    const guard = new BackpressureGuard({ capacity: 1 }, undefined, { name: 'bp' });
    const chain = new Chain(
      [new BackpressureLayer(guard), new TimeoutLayer(100, { name: 'llm' })],
      never,
      'promise',
    );
    const outcome = observe(chain.invoke(undefined, []));
    await jest.advanceTimersByTimeAsync(50);
    expect(await guard.depth()).toBe(1);
    await jest.advanceTimersByTimeAsync(50);
    expect(isTimeoutError(outcome.value)).toBe(true);
    expect(await guard.depth()).toBe(0);
  });
});

describe('TimeoutLayer, streams', () => {
  async function* hangsBeforeFirst(): AsyncGenerator<string> {
    await never();
    yield 'never';
  }

  it('bounds the wait for the first item (phase first-item)', async () => {
    const { spy, invoke } = timed(hangsBeforeFirst, { ms: 1_000, firstItemMs: 100 }, 'iterable');
    const iterator = (invoke() as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    const read = observe(iterator.next());
    await jest.advanceTimersByTimeAsync(99);
    expect(read.status).toBe('pending');
    await jest.advanceTimersByTimeAsync(1);
    expect(read.status).toBe('rejected');
    expect(read.value).toMatchObject({ phase: 'first-item', timeoutMs: 100 });
    expect(spy.signals[0].reason).toBe(read.value);
    await expect(iterator.next()).resolves.toEqual({ done: true, value: undefined });
  });

  it('bounds each gap between items while the consumer waits (phase idle)', async () => {
    async function* stallsAfterTwo(): AsyncGenerator<string> {
      yield 'a';
      await new Promise((resolve) => setTimeout(resolve, 40));
      yield 'b';
      await never();
    }
    const { invoke } = timed(stallsAfterTwo, { ms: 10_000, idleMs: 50 }, 'iterable');
    const iterator = (invoke() as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    await expect(iterator.next()).resolves.toEqual({ done: false, value: 'a' });
    await jest.advanceTimersByTimeAsync(500); // a slow consumer: the gap is not the source's
    const second = observe(iterator.next());
    await jest.advanceTimersByTimeAsync(40);
    expect(second).toEqual({ status: 'resolved', value: { done: false, value: 'b' } });
    const third = observe(iterator.next());
    await jest.advanceTimersByTimeAsync(49);
    expect(third.status).toBe('pending');
    await jest.advanceTimersByTimeAsync(1);
    expect(third.status).toBe('rejected');
    expect(third.value).toMatchObject({ phase: 'idle', timeoutMs: 50 });
  });

  it('bounds the whole stream with ms (phase call), even between reads', async () => {
    async function* ticks(): AsyncGenerator<number> {
      for (let i = 0; ; i++) {
        await new Promise((resolve) => setTimeout(resolve, 40));
        yield i;
      }
    }
    const { layer, invoke } = timed(ticks, { ms: 200, idleMs: 100 }, 'iterable');
    const iterator = (invoke() as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    const seen: unknown[] = [];
    for (let i = 0; i < 4; i++) {
      const read = observe(iterator.next());
      await jest.advanceTimersByTimeAsync(40);
      seen.push((read.value as IteratorResult<number>).value);
    }
    expect(seen).toEqual([0, 1, 2, 3]);
    await jest.advanceTimersByTimeAsync(50); // nobody reading at 200 ms
    await expect(iterator.next()).rejects.toMatchObject({ phase: 'call', timeoutMs: 200 });
    expect(layer.calls.size).toBe(0);
    expect(layer.gaps!.size).toBe(0);
  });

  it('passes a finished stream through and forgets its deadlines', async () => {
    async function* two() {
      yield 1;
      yield 2;
    }
    const { layer, invoke } = timed(two, { ms: 100, firstItemMs: 50, idleMs: 50 }, 'iterable');
    const items: unknown[] = [];
    for await (const item of invoke() as AsyncIterable<unknown>) items.push(item);
    expect(items).toEqual([1, 2]);
    expect(layer.calls.size + layer.firstItems!.size + layer.gaps!.size).toBe(0);
  });

  it('unsubscribes an Observable source when it times out (iterable chain)', async () => {
    let tornDown = false;
    const silent = () =>
      new Observable<string>((subscriber) => {
        subscriber.next('first');
        return () => {
          tornDown = true;
        };
      });
    const { invoke } = timed(silent, { ms: 1_000, idleMs: 100 }, 'iterable');
    const iterator = (invoke() as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    await expect(iterator.next()).resolves.toEqual({ done: false, value: 'first' });
    const read = observe(iterator.next());
    await jest.advanceTimersByTimeAsync(100);
    expect(read.value).toMatchObject({ phase: 'idle' });
    expect(tornDown).toBe(true);
  });

  it('errors an Observable chain with the TimeoutError and tears the source down', async () => {
    let tornDown = false;
    const silent = () => new Observable<string>(() => () => (tornDown = true));
    const { invoke } = timed(silent, { ms: 300, firstItemMs: 200 }, 'observable');
    const outcome = observe(firstValueFrom((invoke() as Observable<string>).pipe(toArray())));
    await jest.advanceTimersByTimeAsync(200);
    expect(outcome.status).toBe('rejected');
    expect(outcome.value).toMatchObject({ phase: 'first-item', policy: 'llm' });
    expect(tornDown).toBe(true);
  });

  it("stops the stream with the caller's reason when the caller aborts", async () => {
    const layer = new TimeoutLayer(1_000, { name: 'llm' });
    const signals: AbortSignal[] = [];
    const method: Step = {
      promise: never,
      stream: (call) => {
        signals.push(call.signal!);
        return hangsBeforeFirst();
      },
      answersWithoutExecution: () => false,
    };
    const caller = new AbortController();
    const call: Call = { self: undefined, args: [], stream: true, signal: caller.signal };
    const iterator = layer.stream(method, call)[Symbol.asyncIterator]();
    const read = observe(iterator.next());
    await jest.advanceTimersByTimeAsync(10);
    caller.abort('bye');
    await flushMicrotasks();
    expect(read).toEqual({ status: 'rejected', value: 'bye' });
    expect(signals[0].reason).toBe('bye');
    expect(layer.calls.size).toBe(0);
  });

  it('lets the consumer leave mid-read, resolving the pending read as done', async () => {
    const { layer, invoke } = timed(hangsBeforeFirst, { ms: 100, firstItemMs: 50 }, 'iterable');
    const iterator = (invoke() as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    const read = observe(iterator.next());
    await iterator.return!();
    await flushMicrotasks();
    expect(read).toEqual({ status: 'resolved', value: { done: true, value: undefined } });
    expect(layer.calls.size + layer.firstItems!.size).toBe(0);
  });
});

describe('TimeoutLayer with an injected clock', () => {
  it('is driven by the clock, not by timers', async () => {
    jest.useRealTimers();
    const clock = new FakeClock();
    const layer = new TimeoutLayer(100, { name: 'llm', clock });
    const outcome = observe(new Chain([layer], never, 'promise').invoke(undefined, []));
    clock.advance(99);
    await flushMicrotasks();
    expect(outcome.status).toBe('pending');
    clock.advance(1);
    await flushMicrotasks();
    expect(outcome.status).toBe('rejected');
    expect(isTimeoutError(outcome.value)).toBe(true);
  });
});
