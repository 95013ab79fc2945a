import 'reflect-metadata';
import { describe, expect, it, jest } from '@jest/globals';
import { Observable, firstValueFrom, of, toArray } from 'rxjs';
import { Chain } from '../core/layer.js';
import type { ReturnKind } from '../core/return-kind.js';
import { isInvalidOptionsError } from '../core/invalid-options.error.js';
import { isOrchestratorError } from '../core/orchestrator.error.js';
import { functionFallback, methodFallback, type FallbackHandler } from './fallback-handler.js';
import { FallbackLayer } from './fallback.layer.js';
import type { FallbackOptions } from './fallback-options.js';
import { isStreamInterruptedError, StreamInterruptedError } from './stream-interrupted.error.js';

function withFallback(
  target: Function,
  handler: FallbackHandler,
  kind: ReturnKind = 'promise',
  options?: FallbackOptions,
) {
  const chain = new Chain([new FallbackLayer(handler, options)], target, kind);
  return { chain, invoke: (...args: unknown[]) => chain.invoke('self', args) };
}

async function collect(stream: unknown): Promise<unknown[]> {
  const items: unknown[] = [];
  for await (const item of stream as AsyncIterable<unknown>) items.push(item);
  return items;
}

const boom = new Error('boom');
const failing = async () => Promise.reject(boom);

describe('FallbackLayer, promises', () => {
  it('replaces a failure with the handler result, given the instance, the error and the args', async () => {
    const handler = jest.fn<FallbackHandler>(() => 'fallback');
    const { invoke } = withFallback(failing, handler);
    await expect(invoke('a', 1)).resolves.toBe('fallback');
    expect(handler).toHaveBeenCalledWith('self', boom, ['a', 1]);
  });

  it('follows a Promise the handler returns, and rejects with what the handler throws', async () => {
    await expect(withFallback(failing, async () => 'later').invoke()).resolves.toBe('later');
    const second = new Error('fallback failed too');
    const throwing = () => {
      throw second;
    };
    await expect(withFallback(failing, throwing).invoke()).rejects.toBe(second);
  });

  it('never calls the handler on success', async () => {
    const handler = jest.fn<FallbackHandler>();
    await expect(withFallback(async () => 7, handler).invoke()).resolves.toBe(7);
    expect(handler).not.toHaveBeenCalled();
  });

  it('passes failures that `on` excludes through unchanged', async () => {
    const handler = jest.fn<FallbackHandler>(() => 'fallback');
    const on = (error: unknown) => (error as Error).message !== 'boom';
    await expect(withFallback(failing, handler, 'promise', { on }).invoke()).rejects.toBe(boom);
    expect(handler).not.toHaveBeenCalled();
  });

  it('is skipped when the caller itself aborted', async () => {
    const handler = jest.fn<FallbackHandler>(() => 'fallback');
    const caller = new AbortController();
    const target = async () => {
      caller.abort();
      throw boom;
    };
    const { chain } = withFallback(target, handler);
    await expect(chain.run('self', [], caller.signal)).rejects.toBe(boom);
    expect(handler).not.toHaveBeenCalled();
    await expect(chain.run('self', [], new AbortController().signal)).resolves.toBe('fallback');
  });
});

describe('fallback handler forms', () => {
  it('a function gets the error first, then the arguments, with the instance as this', async () => {
    const seen: unknown[] = [];
    const handler = functionFallback(function (this: unknown, error, ...args) {
      seen.push(this, error, args);
      return 'ok';
    });
    await expect(withFallback(failing, handler).invoke('x', 2)).resolves.toBe('ok');
    expect(seen).toEqual(['self', boom, ['x', 2]]);
  });

  it('a method name gets the arguments, then the error last', async () => {
    const service = {
      backup: (prompt: string, error: unknown) => `backup(${prompt}, ${(error as Error).message})`,
    };
    const chain = new Chain([new FallbackLayer(methodFallback('backup'))], failing, 'promise');
    await expect(chain.invoke(service, ['hi'])).resolves.toBe('backup(hi, boom)');
  });
});

describe('FallbackLayer, streams', () => {
  async function* failsAfter(items: string[], error: unknown = boom) {
    yield* items;
    throw error;
  }

  it('replaces a stream that fails before its first item, handing over the raw error', async () => {
    const handler = jest.fn<FallbackHandler>(() => of('x', 'y'));
    const { invoke } = withFallback(() => failsAfter([]), handler, 'iterable');
    await expect(collect(invoke())).resolves.toEqual(['x', 'y']);
    expect(handler.mock.calls[0][1]).toBe(boom);
  });

  it('continues a stream interrupted after its first items: one uninterrupted stream', async () => {
    let received: unknown;
    async function* continuation(_self: unknown, error: unknown) {
      received = error;
      yield 'c';
      yield 'd';
    }
    const { invoke } = withFallback(() => failsAfter(['a', 'b']), continuation, 'iterable');
    await expect(collect(invoke())).resolves.toEqual(['a', 'b', 'c', 'd']);
    expect(isStreamInterruptedError(received)).toBe(true);
    expect(received).toMatchObject({ itemsDelivered: 2, cause: boom });
    expect((received as Error).message).toBe('stream failed after 2 items: boom');
  });

  it('adapts an Observable the handler returns for an iterable chain', async () => {
    const { invoke } = withFallback(
      () => failsAfter(['a']),
      () => of('b', 'c'),
      'iterable',
    );
    await expect(collect(invoke())).resolves.toEqual(['a', 'b', 'c']);
  });

  it('continues an Observable method with the Observable the handler returns', async () => {
    const source = () =>
      new Observable<string>((subscriber) => {
        subscriber.next('a');
        subscriber.error(boom);
      });
    const { invoke } = withFallback(source, () => of('b'), 'observable');
    const items = await firstValueFrom((invoke() as Observable<string>).pipe(toArray()));
    expect(items).toEqual(['a', 'b']);
  });

  it('falls back once: a failing fallback stream fails the caller', async () => {
    const second = new Error('backup down');
    const handler = jest.fn<FallbackHandler>(() => failsAfter(['b'], second));
    const { invoke } = withFallback(() => failsAfter(['a']), handler, 'iterable');
    const seen: unknown[] = [];
    await expect(
      (async () => {
        for await (const item of invoke() as AsyncIterable<unknown>) seen.push(item);
      })(),
    ).rejects.toBe(second);
    expect(seen).toEqual(['a', 'b']);
    expect(handler).toHaveBeenCalledTimes(1);
  });

  it('lets failures that `on` excludes end the stream', async () => {
    const handler = jest.fn<FallbackHandler>(() => of('never'));
    const { invoke } = withFallback(() => failsAfter(['a']), handler, 'iterable', {
      on: () => false,
    });
    await expect(collect(invoke())).rejects.toBe(boom);
    expect(handler).not.toHaveBeenCalled();
  });

  it('is skipped for a stream when the caller aborted', async () => {
    const handler = jest.fn<FallbackHandler>(() => of('never'));
    const layer = new FallbackLayer(handler);
    const caller = new AbortController();
    caller.abort();
    const stream = layer.stream(
      {
        promise: failing,
        stream: () => failsAfter(['a']),
        answersWithoutExecution: () => false,
      },
      { self: undefined, args: [], stream: true, signal: caller.signal },
    );
    await expect(collect(stream)).rejects.toBe(boom);
    expect(handler).not.toHaveBeenCalled();
  });

  it('refuses a handler that returns no stream for a stream method', async () => {
    const { invoke } = withFallback(
      () => failsAfter([]),
      () => 42,
      'iterable',
    );
    await expect(collect(invoke())).rejects.toThrow(
      /should return an AsyncIterable or an Observable/,
    );
  });

  it('forwards return() to the running source, and to the fallback stream after a switch', async () => {
    let cleanedUp = 0;
    async function* endless(item: string) {
      try {
        for (;;) yield item;
      } finally {
        cleanedUp++;
      }
    }
    const { invoke } = withFallback(
      () => failsAfter(['a']),
      () => endless('b'),
      'iterable',
    );
    const items: unknown[] = [];
    for await (const item of invoke() as AsyncIterable<unknown>) {
      items.push(item);
      if (items.length === 3) break;
    }
    expect(items).toEqual(['a', 'b', 'b']);
    expect(cleanedUp).toBe(1);
  });
});

describe('fallback options and StreamInterruptedError', () => {
  it('refuses an `on` that is not a function and unknown keys, naming them', () => {
    const refused = (options: unknown) => {
      try {
        new FallbackLayer(() => 1, options as FallbackOptions, 'ChatService.answer');
      } catch (error) {
        if (isInvalidOptionsError(error)) return error.path;
      }
      return 'accepted';
    };
    expect(refused({ on: 'timeouts' })).toBe('ChatService.answer: fallback.on');
    expect(refused({ when: () => true })).toBe('ChatService.answer: fallback.when');
    expect(refused(null)).toBe('ChatService.answer: fallback');
    expect(refused({})).toBe('accepted');
    expect(refused(undefined)).toBe('accepted');
  });

  it('StreamInterruptedError is a library error with its own guard', () => {
    const error = new StreamInterruptedError('socket closed', 1);
    expect(error).toMatchObject({ code: 'STREAM_INTERRUPTED', name: 'StreamInterruptedError' });
    expect(error.message).toBe('stream failed after 1 item: socket closed');
    expect(isOrchestratorError(error)).toBe(true);
    expect(isStreamInterruptedError(boom)).toBe(false);
  });
});
