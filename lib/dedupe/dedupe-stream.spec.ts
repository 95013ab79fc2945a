import { describe, expect, it } from '@jest/globals';
import { Observable, firstValueFrom, toArray } from 'rxjs';
import type { Clock } from '../core/clock.js';
import { Chain } from '../core/layer.js';
import { DedupeLayer } from './dedupe.layer.js';
import { DEDUPE_STREAM_CACHE_LIMIT, type DedupeOptions } from './dedupe-options.js';
import { Deduplicator } from './deduplicator.js';
import { FakeClock } from '../../test/support/fake-clock.js';

/** A source the test feeds item by item; it records how it ended. */
class ControlledSource {
  executions = 0;
  endings: string[] = [];
  private pending: Array<(step: IteratorResult<string> | Error) => void> = [];
  private queued: Array<IteratorResult<string> | Error> = [];

  method = async function* (this: void, source: ControlledSource): AsyncGenerator<string> {
    source.executions++;
    try {
      for (;;) {
        const step = await source.take();
        if (step instanceof Error) throw step;
        if (step.done) return;
        yield step.value;
      }
    } finally {
      source.endings.push('finally');
    }
  };

  emit(value: string): void {
    this.feed({ value, done: false });
  }
  end(): void {
    this.feed({ value: undefined, done: true });
  }
  fail(error: Error): void {
    this.feed(error);
  }

  private feed(step: IteratorResult<string> | Error): void {
    const reader = this.pending.shift();
    if (reader) reader(step);
    else this.queued.push(step);
  }

  private take(): Promise<IteratorResult<string> | Error> {
    const step = this.queued.shift();
    if (step) return Promise.resolve(step);
    return new Promise((resolve) => this.pending.push(resolve));
  }
}

function streamChain(
  target: (...args: any[]) => unknown,
  options: DedupeOptions = {},
  clock?: Clock,
) {
  const deduplicator = new Deduplicator(options, undefined, { name: 'stream', clock });
  const chain = new Chain([new DedupeLayer(deduplicator)], target, 'iterable');
  return {
    deduplicator,
    open: (...args: unknown[]) =>
      (chain.invoke(undefined, args) as AsyncIterable<unknown>)[Symbol.asyncIterator](),
  };
}

async function drain(iterator: AsyncIterator<unknown>): Promise<unknown[]> {
  const items: unknown[] = [];
  for (let r = await iterator.next(); !r.done; r = await iterator.next()) items.push(r.value);
  return items;
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('@Dedupe on streams', () => {
  it('gives a late joiner the full sequence from the first item, from one execution', async () => {
    const source = new ControlledSource();
    const { open } = streamChain(() => source.method(source));
    const early = open('p');
    source.emit('a');
    source.emit('b');
    expect((await early.next()).value).toBe('a');
    expect((await early.next()).value).toBe('b');
    const late = open('p');
    const lateItems = drain(late);
    const earlyRest = drain(early);
    source.emit('c');
    source.end();
    expect(await lateItems).toEqual(['a', 'b', 'c']);
    expect(await earlyRest).toEqual(['c']);
    expect(source.executions).toBe(1);
  });

  it('does not start the execution before the first next()', async () => {
    const source = new ControlledSource();
    const { open } = streamChain(() => source.method(source));
    open('p');
    await flush();
    expect(source.executions).toBe(0);
  });

  it('a consumer that stops early does not cancel the others', async () => {
    const source = new ControlledSource();
    const { open } = streamChain(() => source.method(source));
    const quitter = open('p');
    const stayer = open('p');
    const stayerFirst = stayer.next(); // a consumer joins at its first next()
    source.emit('a');
    expect((await quitter.next()).value).toBe('a');
    await quitter.return!();
    expect((await stayerFirst).value).toBe('a');
    const rest = drain(stayer);
    source.emit('b');
    source.end();
    expect(await rest).toEqual(['b']);
    expect(source.executions).toBe(1);
    expect(source.endings).toEqual(['finally']);
  });

  it('cancels the source once every consumer has left, and the next call runs again', async () => {
    const source = new ControlledSource();
    const { open } = streamChain(() => source.method(source));
    const one = open('p');
    const two = open('p');
    source.emit('a');
    await one.next();
    await two.next();
    await one.return!();
    await two.return!();
    await flush();
    expect(source.endings).toEqual(['finally']);
    const again = open('p');
    source.emit('x');
    expect((await again.next()).value).toBe('x');
    expect(source.executions).toBe(2);
  });

  it('delivers a stream error to every consumer, after the items before it', async () => {
    const source = new ControlledSource();
    const { open } = streamChain(() => source.method(source));
    const one = open('p');
    const two = open('p');
    const boom = new Error('stream broke');
    const first = drain(one);
    const second = drain(two);
    source.emit('a');
    source.fail(boom);
    await expect(first).rejects.toBe(boom);
    await expect(second).rejects.toBe(boom);
    const third = open('p');
    source.emit('fresh');
    expect((await third.next()).value).toBe('fresh'); // the error was not cached
    expect(source.executions).toBe(2);
  });

  it('with ttlMs caches the finished sequence and replays it until it expires (fake clock)', async () => {
    const clock = new FakeClock();
    let executions = 0;
    const { open } = streamChain(
      async function* () {
        executions++;
        yield 1;
        yield 2;
      },
      { ttlMs: 1_000 },
      clock,
    );
    expect(await drain(open('p'))).toEqual([1, 2]);
    expect(await drain(open('p'))).toEqual([1, 2]);
    expect(executions).toBe(1);
    clock.advance(1_000);
    expect(await drain(open('p'))).toEqual([1, 2]);
    expect(executions).toBe(2);
  });

  it(`shares but does not cache a stream longer than ${DEDUPE_STREAM_CACHE_LIMIT} items`, async () => {
    let executions = 0;
    const { open } = streamChain(
      async function* () {
        executions++;
        for (let i = 0; i <= DEDUPE_STREAM_CACHE_LIMIT; i++) yield i;
      },
      { ttlMs: 60_000 },
    );
    const first = await drain(open('p'));
    expect(first).toHaveLength(DEDUPE_STREAM_CACHE_LIMIT + 1);
    expect(await drain(open('p'))).toHaveLength(DEDUPE_STREAM_CACHE_LIMIT + 1);
    expect(executions).toBe(2);
  });

  it('sends a caller who arrives after the replay limit to a new execution', async () => {
    const source = new ControlledSource();
    const { open } = streamChain(() => source.method(source));
    const early = open('p');
    for (let i = 0; i <= DEDUPE_STREAM_CACHE_LIMIT; i++) source.emit(String(i));
    for (let i = 0; i <= DEDUPE_STREAM_CACHE_LIMIT; i++) await early.next();
    const late = open('p');
    const lateFirst = late.next();
    await flush();
    expect(source.executions).toBe(2);
    source.emit('second execution');
    expect((await lateFirst).value).toBe('second execution');
    await early.return!();
    await late.return!();
  });

  it('shares an Observable method among concurrent subscribers', async () => {
    let subscriptions = 0;
    const deduplicator = new Deduplicator({}, undefined, { name: 'obs' });
    const chain = new Chain(
      [new DedupeLayer(deduplicator)],
      () =>
        new Observable<number>((subscriber) => {
          subscriptions++;
          setTimeout(() => {
            subscriber.next(1);
            subscriber.next(2);
            subscriber.complete();
          }, 1);
        }),
      'observable',
    );
    const observe = () =>
      firstValueFrom((chain.invoke(undefined, ['q']) as Observable<number>).pipe(toArray()));
    expect(await Promise.all([observe(), observe()])).toEqual([
      [1, 2],
      [1, 2],
    ]);
    expect(subscriptions).toBe(1);
  });
});
