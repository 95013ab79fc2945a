import { describe, expect, it } from '@jest/globals';
import { FakeClock } from '../../test/support/fake-clock.js';
import { isBackpressureShedError } from '../backpressure/backpressure-shed.error.js';
import { isCircuitOpenError } from '../circuit-breaker/circuit-open.error.js';
import type { OrchestratorEvent } from '../core/events.js';
import { RetryPolicy } from '../retry/retry.policy.js';
import { PolicyEngine } from '../core/policy-engine.js';
import { circuitBreakerKind } from '../circuit-breaker/circuit-breaker.kind.js';
import { backpressureKind } from '../backpressure/backpressure.kind.js';
import { Pipeline } from './pipeline.js';
import { PipelineAbortedError, isPipelineAbortedError } from './pipeline-aborted.error.js';
import type { StageContext } from './pipeline.types.js';

/** Lets promise callbacks and timers queued so far run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Lets the event loop turn until `condition` holds; fails instead of spinning forever. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !condition(); i++) await settle();
  expect(condition()).toBe(true);
}

/** fetch-style: rejects with the signal's reason when it aborts (at once if it already has). */
function untilAborted(signal: AbortSignal): Promise<never> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
}

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((res) => (resolve = res));
  return { promise, resolve };
}

describe('aborting a run stops the stage retry', () => {
  it('a stage (maxAttempts 4) that rejects on abort is called exactly once', async () => {
    let calls = 0;
    const pipeline = new Pipeline<string>('retrying').addStage(
      'infer',
      (_: string, ctx: StageContext) => {
        calls++;
        return untilAborted(ctx.signal);
      },
      { policy: { retry: { maxAttempts: 4, baseDelayMs: 1, jitter: 'none' } } },
    );
    const controller = new AbortController();
    const run = pipeline.run('x', { signal: controller.signal });
    await until(() => calls === 1);

    controller.abort('user left');
    await expect(run).rejects.toBeInstanceOf(PipelineAbortedError);
    await sleep(50); // well past every retry delay
    expect(calls).toBe(1);
  });

  it('an abort during the backoff cancels the wait: no second attempt', async () => {
    const clock = new FakeClock();
    let calls = 0;
    const pipeline = new Pipeline<string>('backoff', PolicyEngine.standalone(clock)).addStage(
      'infer',
      () => {
        calls++;
        return Promise.reject(new Error('503'));
      },
      { policy: { retry: { maxAttempts: 4, baseDelayMs: 1_000, jitter: 'none' } } },
    );
    const controller = new AbortController();
    const run = pipeline.run('x', { signal: controller.signal });
    await until(() => clock.pendingSleeps === 1); // the backoff before attempt 2
    expect(calls).toBe(1);

    controller.abort('user left');
    await expect(run).rejects.toBeInstanceOf(PipelineAbortedError);
    expect(clock.pendingSleeps).toBe(0); // the wait was cancelled, not left to run out
    for (let i = 0; i < 4; i++) {
      clock.advance(10_000);
      await settle();
    }
    expect(calls).toBe(1);
  });

  it('a run that is not aborted still retries', async () => {
    let calls = 0;
    const pipeline = new Pipeline<string>('retried').addStage(
      'infer',
      () => (++calls < 3 ? Promise.reject(new Error('503')) : 'ok'),
      { policy: { retry: { maxAttempts: 4, baseDelayMs: 1, jitter: 'none' } } },
    );
    await expect(pipeline.run('x', { timeoutMs: 10_000 })).resolves.toBe('ok');
    expect(calls).toBe(3);
  });

  it('RetryPolicy.execute(fn, signal) schedules no retry once the signal aborted', async () => {
    const events: OrchestratorEvent[] = [];
    const policy = new RetryPolicy(
      { maxAttempts: 4, baseDelayMs: 1, jitter: 'none' },
      { events: { active: true, emit: (event) => events.push(event) } },
    );
    const controller = new AbortController();
    let calls = 0;
    const done = policy.execute(() => {
      calls++;
      return untilAborted(controller.signal);
    }, controller.signal);
    controller.abort('stop');
    await expect(done).rejects.toBe('stop');
    await sleep(20);
    expect(calls).toBe(1);
    expect(events.filter((e) => e.type === 'retry.scheduled')).toEqual([]);
  });
});

describe('aborting a run is not a breaker failure', () => {
  it('a stage whose circuit has threshold 1, aborted by timeoutMs, leaves the circuit closed', async () => {
    const runtime = PolicyEngine.standalone();
    let calls = 0;
    const pipeline = new Pipeline<string>('timed', runtime).addStage(
      'infer',
      (input: string, ctx: StageContext) => {
        calls++;
        return input === 'slow' ? untilAborted(ctx.signal) : `${input}!`;
      },
      { policy: { circuitBreaker: { name: 'llm', threshold: 1 } } },
    );

    const error = await pipeline.run('slow', { timeoutMs: 5 }).catch((e: unknown) => e);
    expect(isPipelineAbortedError(error)).toBe(true);
    await settle();

    const circuit = runtime.lookup(circuitBreakerKind, 'llm');
    expect(await circuit.state()).toBe('closed');
    expect(await circuit.failureCount()).toBe(0);
    // The next run is admitted and runs the stage.
    await expect(pipeline.run('fast')).resolves.toBe('fast!');
    expect(calls).toBe(2);
  });

  it('a real failure (no abort) still opens it', async () => {
    const runtime = PolicyEngine.standalone();
    const pipeline = new Pipeline<string>('failing', runtime).addStage(
      'infer',
      () => Promise.reject(new Error('down')),
      { policy: { circuitBreaker: { name: 'llm', threshold: 1 } } },
    );
    await expect(pipeline.run('x', { timeoutMs: 10_000 })).rejects.toThrow();
    const second = await pipeline.run('x', { timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(isCircuitOpenError((second as { cause?: unknown }).cause)).toBe(true);
    expect(await runtime.lookup(circuitBreakerKind, 'llm').state()).toBe('open');
  });

  it('a half-open probe aborted by the caller frees its probe slot and keeps it half-open', async () => {
    const clock = new FakeClock();
    const runtime = PolicyEngine.standalone(clock);
    let fail = true;
    const pipeline = new Pipeline<string>('probing', runtime).addStage(
      'infer',
      (input: string, ctx: StageContext) => {
        if (fail) return Promise.reject(new Error('down'));
        return input === 'slow' ? untilAborted(ctx.signal) : input;
      },
      { policy: { circuitBreaker: { name: 'llm', threshold: 1, recoveryWindowMs: 1_000 } } },
    );
    await expect(pipeline.run('x')).rejects.toThrow();
    clock.advance(1_000);
    fail = false;
    const controller = new AbortController();
    const probe = pipeline.run('slow', { signal: controller.signal });
    await settle();
    controller.abort('user left');
    await expect(probe).rejects.toBeInstanceOf(PipelineAbortedError);
    await settle();
    // Neither success nor failure: still half-open, and the slot is free for the next probe.
    expect(await runtime.lookup(circuitBreakerKind, 'llm').state()).toBe('half-open');
    await expect(pipeline.run('ok')).resolves.toBe('ok');
    expect(await runtime.lookup(circuitBreakerKind, 'llm').state()).toBe('closed');
  });
});

describe('aborting a run takes it out of the backpressure queue', () => {
  it('a stage waiting for a slot never runs, and leaves the queue empty', async () => {
    const runtime = PolicyEngine.standalone();
    const holder = deferred<string>();
    const ran: string[] = [];
    const pipeline = new Pipeline<string>('capped', runtime).addStage(
      'infer',
      (input: string) => {
        ran.push(input);
        return input === 'first' ? holder.promise : input;
      },
      { policy: { backpressure: { name: 'llm', capacity: 1, maxWaitMs: 60_000, maxQueue: 1 } } },
    );
    const guard = () => runtime.existing(backpressureKind, 'llm')!;

    const first = pipeline.run('first');
    await until(() => ran.includes('first'));
    const controller = new AbortController();
    const waiting = pipeline.run('waiting', { signal: controller.signal });
    await settle();
    expect(ran).toEqual(['first']);

    controller.abort('user left');
    await expect(waiting).rejects.toBeInstanceOf(PipelineAbortedError);

    // The queue is empty: with maxQueue 1 another caller may wait (it is not shed).
    const third = pipeline.run('third').catch((e: unknown) => e);
    await settle();
    holder.resolve('first done');
    await expect(first).resolves.toBe('first done');
    const thirdResult = await third;
    expect(isBackpressureShedError(thirdResult)).toBe(false);
    expect(thirdResult).toBe('third');

    await settle();
    expect(ran).toEqual(['first', 'third']); // the aborted stage never ran
    expect(await guard().depth()).toBe(0);
  });
});

describe('aborting one run never fails the runs sharing its deduped stage', () => {
  it('the shared execution runs on until every run sharing it has aborted', async () => {
    let executions = 0;
    const answer = deferred<string>();
    let sharedSignal: AbortSignal | undefined;
    const pipeline = new Pipeline<string>('shared').addStage(
      'infer',
      (input: string, ctx: StageContext) => {
        executions++;
        sharedSignal = ctx.signal;
        return Promise.race([
          answer.promise.then((a) => `${a}:${input}`),
          untilAborted(ctx.signal),
        ]);
      },
      { policy: { dedupe: { ttlMs: 0 } } },
    );
    const leaving = new AbortController();
    const first = pipeline.run('q', { signal: leaving.signal });
    const second = pipeline.run('q'); // no signal: keeps the shared execution alive
    await until(() => executions === 1);

    leaving.abort(new Error('first caller left'));
    await expect(first).rejects.toBeInstanceOf(PipelineAbortedError);
    expect(sharedSignal?.aborted).toBe(false);

    answer.resolve('done');
    await expect(second).resolves.toBe('done:q');
    expect(executions).toBe(1);
  });

  it('the shared signal aborts once the last run sharing it aborts', async () => {
    let sharedSignal: AbortSignal | undefined;
    const pipeline = new Pipeline<string>('all-leave').addStage(
      'infer',
      (_: string, ctx: StageContext) => {
        sharedSignal = ctx.signal;
        return untilAborted(ctx.signal);
      },
      { policy: { dedupe: {} } },
    );
    const [a, b] = [new AbortController(), new AbortController()];
    const runs = [a, b].map((c) => pipeline.run('q', { signal: c.signal }).catch((e) => e));
    await until(() => sharedSignal !== undefined);
    a.abort();
    await settle();
    expect(sharedSignal?.aborted).toBe(false);
    b.abort();
    expect((await Promise.all(runs)).every(isPipelineAbortedError)).toBe(true);
    expect(sharedSignal?.aborted).toBe(true);
  });
});
