import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Pipeline } from './pipeline.js';
import { PipelineAbortedError, isPipelineAbortedError } from './pipeline-aborted.error.js';
import type { StageContext } from './pipeline.types.js';

/** A promise the test settles by hand, standing in for a slow downstream call. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets microtasks run until `condition` holds; fails instead of spinning forever. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !condition(); i++) await Promise.resolve();
  expect(condition()).toBe(true);
}

/** fetch-style: rejects with the signal's reason when it aborts. */
function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
}

/** first -> slow (waits on `gate`) -> last; records which stages started and the slow ctx. */
function threeStages(gate: Promise<string>) {
  const started: string[] = [];
  let slowCtx: StageContext | undefined;
  const pipeline = new Pipeline<string>('abortable')
    .addStage('first', (s) => (started.push('first'), `${s}1`))
    .addStage('slow', (s, ctx) => {
      started.push('slow');
      slowCtx = ctx;
      return gate.then((g) => `${s}${g}`);
    })
    .addStage('last', (s) => (started.push('last'), `${s}3`));
  return { pipeline, started, slowCtx: () => slowCtx };
}

afterEach(() => {
  jest.useRealTimers();
});

describe('Pipeline abort by the caller signal', () => {
  it('rejects at once mid-stage with PipelineAbortedError and starts no later stage', async () => {
    const gate = deferred<string>();
    const { pipeline, started, slowCtx } = threeStages(gate.promise);
    const controller = new AbortController();
    const run = pipeline.run('x', { signal: controller.signal });
    await until(() => started.includes('slow'));

    controller.abort('user left');
    const error = await run.catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PipelineAbortedError);
    expect(error).toMatchObject({
      pipeline: 'abortable',
      stage: 'slow',
      index: 1,
      reason: 'user left',
    });
    expect(slowCtx()?.signal.aborted).toBe(true);
    expect(slowCtx()?.signal.reason).toBe('user left');
    gate.resolve('2'); // the abandoned stage finishing late must not revive the run
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual(['first', 'slow']);
  });

  it('rejects without running any stage when the signal is already aborted', async () => {
    const { pipeline, started } = threeStages(Promise.resolve('2'));
    const run = pipeline.run('x', { signal: AbortSignal.abort('too late') });
    await expect(run).rejects.toMatchObject({ stage: 'first', index: 0, reason: 'too late' });
    expect(started).toEqual([]);
  });

  it('stops before the next stage when a stage aborts the run while finishing', async () => {
    const controller = new AbortController();
    const second = jest.fn((s: string) => s);
    const pipeline = new Pipeline<string>('self-abort')
      .addStage('first', (s) => {
        controller.abort(new Error('cancelled'));
        return s;
      })
      .addStage('second', second);
    const error = await pipeline.run('x', { signal: controller.signal }).catch((e: unknown) => e);
    expect(isPipelineAbortedError(error)).toBe(true);
    expect((error as PipelineAbortedError).stage).toBe('first');
    expect(second).not.toHaveBeenCalled();
  });

  it('treats a stage that fails because it passed ctx.signal on as aborted, not recovered', async () => {
    const controller = new AbortController();
    const handler = jest.fn(() => 'recovered');
    const pipeline = new Pipeline<string>('pass-on')
      .addStage('fetch', (_s, ctx) => untilAborted(ctx.signal))
      .withErrorHandler(handler);
    const run = pipeline.run('x', { signal: controller.signal });
    controller.abort('stop');
    await expect(run).rejects.toMatchObject({
      code: 'PIPELINE_ABORTED',
      stage: 'fetch',
      reason: 'stop',
    });
    expect(handler).not.toHaveBeenCalled();
  });

  it('removes its listener from the caller signal when the run ends', async () => {
    const controller = new AbortController();
    const pipeline = new Pipeline<number>('no-leak').addStage('inc', async (n) => n + 1);
    for (let i = 0; i < 20; i++) await pipeline.run(i, { signal: controller.signal });
    await pipeline.run(0, { signal: controller.signal }).catch(() => undefined);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });
});

describe('Pipeline timeout', () => {
  it('aborts the running stage when timeoutMs elapses and starts no later stage', async () => {
    jest.useFakeTimers();
    const gate = deferred<string>();
    const { pipeline, started, slowCtx } = threeStages(gate.promise);
    const run = pipeline.run('x', { timeoutMs: 1_000 });
    const outcome = run.then(
      () => 'resolved',
      (e: unknown) => e,
    );

    await jest.advanceTimersByTimeAsync(999);
    expect(slowCtx()?.signal.aborted).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    const error = await outcome;

    expect(error).toBeInstanceOf(PipelineAbortedError);
    expect(error).toMatchObject({ stage: 'slow', index: 1 });
    const reason = (error as PipelineAbortedError).reason as DOMException;
    expect(reason.name).toBe('TimeoutError');
    expect(reason.message).toBe('pipeline "abortable" timed out after 1000 ms');
    expect(slowCtx()?.signal.aborted).toBe(true);
    gate.resolve('2');
    await jest.advanceTimersByTimeAsync(10);
    expect(started).toEqual(['first', 'slow']);
  });

  it('is not recovered by the error handler', async () => {
    jest.useFakeTimers();
    const handler = jest.fn(() => 'recovered');
    const pipeline = new Pipeline<string>('timeout-handler')
      .addStage('hang', () => new Promise<string>(() => undefined))
      .withErrorHandler(handler);
    const outcome = pipeline.run('x', { timeoutMs: 50 }).catch((e: unknown) => e);
    await jest.advanceTimersByTimeAsync(50);
    expect(isPipelineAbortedError(await outcome)).toBe(true);
    expect(handler).not.toHaveBeenCalled();
  });

  it('clears its timer when the run finishes first', async () => {
    jest.useFakeTimers();
    const pipeline = new Pipeline<number>('fast').addStage('inc', async (n) => n + 1);
    await expect(pipeline.run(1, { timeoutMs: 60_000 })).resolves.toBe(2);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('clears its timer when a stage fails first', async () => {
    jest.useFakeTimers();
    const pipeline = new Pipeline<number>('fails').addStage('boom', () =>
      Promise.reject(new Error('x')),
    );
    await expect(pipeline.run(1, { timeoutMs: 60_000 })).rejects.toMatchObject({ stage: 'boom' });
    expect(jest.getTimerCount()).toBe(0);
  });

  it('leaves a finished run alone: a streamed output keeps a live ctx.signal', async () => {
    jest.useFakeTimers();
    let ctxSignal: AbortSignal | undefined;
    const pipeline = new Pipeline<string>('stream').addStage('tokens', (s, ctx) => {
      ctxSignal = ctx.signal;
      return (async function* () {
        yield s;
      })();
    });
    await pipeline.run('a', { timeoutMs: 10 });
    await jest.advanceTimersByTimeAsync(100);
    expect(ctxSignal?.aborted).toBe(false);
  });
});
