import 'reflect-metadata';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Chain } from '../core/layer.js';
import { isTimeoutError } from '../timeout/timeout.error.js';
import { TimeoutLayer } from '../timeout/timeout.layer.js';
import { FallbackLayer } from './fallback.layer.js';
import { isStreamInterruptedError } from './stream-interrupted.error.js';

/** Fallback > Timeout > method, the order API.md §7 recommends (minus the other layers). */
describe('a fallback above a timeout', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('answers a hung call from the fallback at the timeout', async () => {
    const errors: unknown[] = [];
    const chain = new Chain(
      [
        new FallbackLayer((_self, error) => {
          errors.push(error);
          return 'cached answer';
        }),
        new TimeoutLayer(500, { name: 'llm' }),
      ],
      () => new Promise(() => undefined),
      'promise',
    );
    const answer = chain.invoke(undefined, []) as Promise<unknown>;
    await jest.advanceTimersByTimeAsync(500);
    await expect(answer).resolves.toBe('cached answer');
    expect(isTimeoutError(errors[0])).toBe(true);
  });

  it('continues a stream that stalled mid-answer with a second model, seamlessly', async () => {
    async function* primary() {
      yield 'The ';
      yield 'answer ';
      await new Promise(() => undefined); // the provider stalls without closing
    }
    const answer = ['The ', 'answer ', 'is ', '42.'];
    let interruption: unknown;
    async function* secondModel(_self: unknown, error: unknown) {
      interruption = error;
      const skip = isStreamInterruptedError(error) ? error.itemsDelivered : 0;
      yield* answer.slice(skip);
    }
    const chain = new Chain(
      [new FallbackLayer(secondModel), new TimeoutLayer({ ms: 10_000, idleMs: 1_000 })],
      primary,
      'iterable',
    );
    const items: unknown[] = [];
    const reading = (async () => {
      for await (const item of chain.invoke(undefined, []) as AsyncIterable<unknown>) {
        items.push(item);
      }
    })();
    await jest.advanceTimersByTimeAsync(1_000);
    await reading;
    expect(items).toEqual(answer);
    expect(interruption).toMatchObject({ itemsDelivered: 2 });
    expect((interruption as { cause: unknown }).cause).toMatchObject({ phase: 'idle' });
  });
});
