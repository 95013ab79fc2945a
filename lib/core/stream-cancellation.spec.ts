import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { Observable, take, toArray, lastValueFrom } from 'rxjs';
import { FakeClock } from '../../test/support/fake-clock.js';
import { Backpressure } from '../backpressure/backpressure.decorator.js';
import { BackpressureGuard } from '../backpressure/backpressure.policy.js';
import { BackpressureLayer } from '../backpressure/backpressure.layer.js';
import { InMemoryBackpressureStore } from '../backpressure/in-memory-backpressure.store.js';
import { CircuitBreaker } from '../circuit-breaker/circuit-breaker.decorator.js';
import { CircuitBreakerLayer } from '../circuit-breaker/circuit-breaker.layer.js';
import { CircuitBreakerPolicy } from '../circuit-breaker/circuit-breaker.policy.js';
import { InMemoryCircuitBreakerStore } from '../circuit-breaker/in-memory-circuit-breaker.store.js';
import { isCircuitOpenError } from '../circuit-breaker/circuit-open.error.js';
import { Retry } from '../retry/retry.decorator.js';
import { RetryLayer } from '../retry/retry.layer.js';
import { RetryPolicy } from '../retry/retry.policy.js';
import { Chain, type Layer } from './layer.js';
import type { ReturnKind } from './return-kind.js';
import { asyncIterableToObservable, observableToAsyncIterable } from './streams.js';

/** Lets promise callbacks and timers queued so far run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/**
 * An upstream that emits `first` once, then stalls forever: nothing ever wakes a consumer
 * blocked on its second item, so only a prompt `return()` / unsubscribe can tear it down.
 */
class StallingSource {
  subscriptions = 0;
  teardowns = 0;

  observable(first = 'a'): Observable<string> {
    return new Observable<string>((subscriber) => {
      this.subscriptions++;
      subscriber.next(first);
      return () => this.teardowns++;
    });
  }

  /**
   * A hand-written AsyncIterable: `next()` after the first item settles only when the consumer
   * leaves (`return()` ends the pending read, as `observableToAsyncIterable` does).
   */
  iterable(first = 'a'): AsyncIterable<string> {
    return {
      [Symbol.asyncIterator]: (): AsyncIterator<string> => {
        this.subscriptions++;
        let emitted = false;
        let torn = false;
        let stalled: ((result: IteratorResult<string>) => void) | undefined;
        return {
          next: () => {
            if (torn) return Promise.resolve({ done: true, value: undefined });
            if (emitted) return new Promise((resolve) => (stalled = resolve));
            emitted = true;
            return Promise.resolve({ done: false, value: first });
          },
          return: () => {
            if (!torn) this.teardowns++;
            torn = true;
            stalled?.({ done: true, value: undefined });
            return Promise.resolve({ done: true, value: undefined });
          },
        };
      },
    };
  }
}

function chainOf(layers: Layer[], target: Function, kind: ReturnKind): (...args: unknown[]) => any {
  const chain = new Chain(layers, target, kind);
  return (...args) => chain.invoke(undefined, args);
}

describe('stream cancellation: @CircuitBreaker', () => {
  it('an Observable method that emits once then idles is torn down on unsubscribe', async () => {
    const source = new StallingSource();
    class Feed {
      @CircuitBreaker({ threshold: 1 })
      tokens(): Observable<string> {
        return source.observable();
      }
    }
    const seen: string[] = [];
    const subscription = new Feed().tokens().subscribe((token) => seen.push(token));
    await settle();
    expect(seen).toEqual(['a']);
    expect(source.subscriptions).toBe(1);

    subscription.unsubscribe(); // the pump is blocked on the second item
    await settle();
    expect(source.teardowns).toBe(1);
  });

  it('an AsyncIterable returned mid-read forwards return() upstream at once', async () => {
    const source = new StallingSource();
    const policy = new CircuitBreakerPolicy('feed', { threshold: 1 });
    const tokens = chainOf([new CircuitBreakerLayer(policy)], () => source.iterable(), 'iterable');
    const iterator = (tokens() as AsyncIterable<string>)[Symbol.asyncIterator]();
    expect(await iterator.next()).toEqual({ done: false, value: 'a' });
    const pending = iterator.next(); // never answered by the source

    await expect(iterator.return!()).resolves.toMatchObject({ done: true });
    expect(source.teardowns).toBe(1);
    await expect(pending).resolves.toMatchObject({ done: true });
    // Left early: neither success nor failure.
    expect(await policy.failureCount()).toBe(0);
    expect(await policy.state()).toBe('closed');
  });

  it('a half-open probe abandoned mid-wait frees its slot at once: the next call is admitted', async () => {
    const clock = new FakeClock();
    const store = new InMemoryCircuitBreakerStore(clock);
    const policy = new CircuitBreakerPolicy(
      'probe',
      { threshold: 1, recoveryWindowMs: 1_000 },
      store,
      {
        clock,
      },
    );
    const source = new StallingSource();
    let fail = true;
    const tokens = chainOf(
      [new CircuitBreakerLayer(policy)],
      () =>
        fail
          ? new Observable<string>((subscriber) => subscriber.error(new Error('down')))
          : source.observable(),
      'observable',
    );
    await expect(lastValueFrom(tokens() as Observable<string>)).rejects.toThrow('down');
    expect(await policy.state()).toBe('open');
    clock.advance(1_000);
    fail = false;

    const seen: string[] = [];
    const probe = (tokens() as Observable<string>).subscribe((token) => seen.push(token));
    await settle();
    expect(seen).toEqual(['a']);
    expect((await policy.snapshot()).probesInFlight).toBe(1);

    probe.unsubscribe(); // mid-wait for the second item
    await settle();
    expect(source.teardowns).toBe(1);
    expect((await policy.snapshot()).probesInFlight).toBe(0);
    // The slot is free long before probeLeaseMs: another probe is admitted (not CircuitOpenError).
    const next = await lastValueFrom((tokens() as Observable<string>).pipe(take(1))).catch(
      (e: unknown) => e,
    );
    expect(isCircuitOpenError(next)).toBe(false);
    expect(next).toBe('a');
  });
});

describe('stream cancellation: @Retry', () => {
  function retrying(clock: FakeClock) {
    let attempts = 0;
    const policy = new RetryPolicy(
      { maxAttempts: 3, baseDelayMs: 1_000, jitter: 'none' },
      { clock },
    );
    const tokens = chainOf(
      [new RetryLayer(policy)],
      () =>
        new Observable<string>((subscriber) => {
          attempts++;
          subscriber.error(new Error('connect failed'));
        }),
      'observable',
    );
    return { tokens: tokens as () => Observable<string>, attempts: () => attempts };
  }

  it('unsubscribing during a backoff runs exactly 1 attempt, no more', async () => {
    const clock = new FakeClock();
    const { tokens, attempts } = retrying(clock);
    const errors: unknown[] = [];
    const subscription = tokens().subscribe({ error: (e) => errors.push(e) });
    await settle();
    expect(attempts()).toBe(1);
    expect(clock.pendingSleeps).toBe(1); // the backoff before attempt 2

    subscription.unsubscribe();
    await settle();
    expect(clock.pendingSleeps).toBe(0); // the backoff was cancelled, not left to run out
    for (let i = 0; i < 5; i++) {
      clock.advance(10_000);
      await settle();
    }
    expect(attempts()).toBe(1);
    expect(errors).toEqual([]);
  });

  it('return() during a backoff ends the stream at once and runs no further attempt', async () => {
    const clock = new FakeClock();
    const policy = new RetryPolicy(
      { maxAttempts: 3, baseDelayMs: 1_000, jitter: 'none' },
      { clock },
    );
    let calls = 0;
    const tokens = chainOf(
      [new RetryLayer(policy)],
      async function* () {
        if (++calls > 0) throw new Error('connect failed');
        yield 'never';
      },
      'iterable',
    );
    const iterator = (tokens() as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    const pending = iterator.next();
    await settle();
    expect(clock.pendingSleeps).toBe(1);

    await iterator.return!();
    await expect(pending).resolves.toMatchObject({ done: true });
    clock.advance(10_000);
    await settle();
    expect(calls).toBe(1);
  });

  it('still retries a failure before the first item and not one after it', async () => {
    const clock = new FakeClock();
    const policy = new RetryPolicy({ maxAttempts: 3, baseDelayMs: 10, jitter: 'none' }, { clock });
    let calls = 0;
    const tokens = chainOf(
      [new RetryLayer(policy)],
      async function* () {
        calls++;
        if (calls === 1) throw new Error('before first');
        yield 'a';
        throw new Error('after first');
      },
      'iterable',
    );
    const seen: unknown[] = [];
    const run = (async () => {
      for await (const token of tokens() as AsyncIterable<unknown>) seen.push(token);
    })();
    await settle();
    clock.advance(10);
    await expect(run).rejects.toThrow('after first');
    expect(seen).toEqual(['a']);
    expect(calls).toBe(2);
  });
});

describe('stream cancellation: @Backpressure outermost', () => {
  it('unsubscribing frees the slot and tears the running upstream down too', async () => {
    const source = new StallingSource();
    class Feed {
      @Backpressure({ capacity: 1 })
      @CircuitBreaker({ threshold: 1 })
      @Retry({ maxAttempts: 2, baseDelayMs: 1, jitter: 'none' })
      tokens(): Observable<string> {
        return source.observable();
      }
    }
    const feed = new Feed();
    const subscription = feed.tokens().subscribe();
    await settle();
    expect(source.subscriptions).toBe(1);

    subscription.unsubscribe();
    await settle();
    expect(source.teardowns).toBe(1);
    // The slot is free: a second stream runs.
    expect(await lastValueFrom(feed.tokens().pipe(take(1)))).toBe('a');
    await settle();
    expect(source.teardowns).toBe(2);
  });

  it('with a hand-made chain: the guard depth and the upstream both drop at once', async () => {
    const source = new StallingSource();
    const guard = new BackpressureGuard({ capacity: 1 }, new InMemoryBackpressureStore(), {
      name: 'g',
    });
    const policy = new CircuitBreakerPolicy('c', { threshold: 1 });
    const retry = new RetryPolicy({ maxAttempts: 2, baseDelayMs: 1, jitter: 'none' });
    const tokens = chainOf(
      [new BackpressureLayer(guard), new CircuitBreakerLayer(policy), new RetryLayer(retry)],
      () => source.iterable(),
      'iterable',
    );
    const iterator = (tokens() as AsyncIterable<string>)[Symbol.asyncIterator]();
    expect(await iterator.next()).toEqual({ done: false, value: 'a' });
    void iterator.next();
    expect(await guard.depth()).toBe(1);

    await iterator.return!();
    await settle();
    expect(await guard.depth()).toBe(0);
    expect(source.teardowns).toBe(1);
  });
});

describe('streams.ts adapters', () => {
  it('observableToAsyncIterable: return() before the first next() never subscribes', async () => {
    const source = new StallingSource();
    const iterator = observableToAsyncIterable(source.observable())[Symbol.asyncIterator]();
    await iterator.return!();
    expect(await iterator.next()).toMatchObject({ done: true });
    expect(source.subscriptions).toBe(0);
  });

  it('observableToAsyncIterable: return() mid-wait unsubscribes and ends the pending read', async () => {
    const source = new StallingSource();
    const iterator = observableToAsyncIterable(source.observable())[Symbol.asyncIterator]();
    expect(await iterator.next()).toEqual({ done: false, value: 'a' });
    const pending = iterator.next();
    await iterator.return!();
    await expect(pending).resolves.toMatchObject({ done: true });
    expect(source.teardowns).toBe(1);
  });

  it('asyncIterableToObservable: an unsubscribe from inside next (take) reads no further', async () => {
    let reads = 0;
    let returns = 0;
    const observable = asyncIterableToObservable<number>(() => ({
      [Symbol.asyncIterator]: () => ({
        next: () => Promise.resolve({ done: false, value: ++reads }),
        return: () => {
          returns++;
          return Promise.resolve({ done: true, value: undefined });
        },
      }),
    }));
    expect(await lastValueFrom(observable.pipe(take(1), toArray()))).toEqual([1]);
    await settle();
    expect(reads).toBe(1);
    expect(returns).toBe(1);
  });
});
