import { describe, expect, it, jest } from '@jest/globals';
import { FakeClock, flushMicrotasks } from '../../test/support/fake-clock.js';
import { InvalidOptionsError } from '../core/invalid-options.error.js';
import { PolicyEngine } from '../core/policy-engine.js';
import { Pipeline } from './pipeline.js';
import { PipelineStageError } from './pipeline-stage.error.js';
import type { StageContext } from './pipeline.types.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Rejects like a failing downstream call would. */
const boom = (message: string) => (): never => {
  throw new Error(message);
};

describe('Pipeline (seed tests)', () => {
  it('test_pipeline_runs_stages_in_order: each stage gets the previous output', async () => {
    const p = new Pipeline<string>('seed')
      .addStage('upper', (s) => s.toUpperCase())
      .addStage('append', (s) => `${s}!`);
    await expect(p.run('hello')).resolves.toBe('HELLO!');
  });

  it('test_pipeline_empty_pipeline_returns_input', async () => {
    const p = new Pipeline<string>('seed');
    await expect(p.run('test')).resolves.toBe('test');
    await expect(p.executeTimed('test')).resolves.toEqual({ output: 'test', stageTimings: [] });
  });

  it('test_pipeline_stage_failure_short_circuits: PipelineStageError, later stage never runs', async () => {
    const failure = new Error('boom');
    const never = jest.fn((s: string) => s);
    const p = new Pipeline<string>('seed')
      .addStage('fail', (): string => {
        throw failure;
      })
      .addStage('never', never);
    const result = p.run('input');
    await expect(result).rejects.toBeInstanceOf(PipelineStageError);
    await expect(result).rejects.toMatchObject({
      code: 'PIPELINE_STAGE_FAILED',
      pipeline: 'seed',
      stage: 'fail',
      index: 0,
      cause: failure,
    });
    expect(never).not.toHaveBeenCalled();
  });

  it('test_pipeline_stage_count', () => {
    const p = new Pipeline<string>('seed').addStage('s1', (s) => s).addStage('s2', (s) => s);
    expect(p.stageCount()).toBe(2);
  });

  it('test_pipeline_execute_timed_captures_stage_durations', async () => {
    const p = new Pipeline<string>('seed')
      .addStage('s1', (s) => `${s}1`)
      .addStage('s2', (s) => `${s}2`);
    const result = await p.executeTimed('x');
    expect(result.output).toBe('x12');
    expect(result.stageTimings).toHaveLength(2);
    expect(result.stageTimings.map(({ index, name }) => ({ index, name }))).toEqual([
      { index: 0, name: 's1' },
      { index: 1, name: 's2' },
    ]);
  });

  it('test_pipeline_error_handler_recovers_from_stage_failure', async () => {
    const p = new Pipeline<string>('seed')
      .addStage('fail_stage', boom('oops'))
      .addStage('append', (s) => `${s}-recovered`)
      .withErrorHandler((stageName) => `recovered_from_${stageName}`);
    await expect(p.run('input')).resolves.toBe('recovered_from_fail_stage-recovered');
  });
});

describe('Pipeline stages', () => {
  it('awaits async stages in order, never overlapping them', async () => {
    const log: string[] = [];
    const p = new Pipeline<number>('async')
      .addStage('slow', async (n) => {
        log.push('slow:start');
        await sleep(5);
        log.push('slow:end');
        return n + 1;
      })
      .addStage('fast', async (n) => {
        log.push('fast');
        return n * 10;
      });
    await expect(p.run(1)).resolves.toBe(20);
    expect(log).toEqual(['slow:start', 'slow:end', 'fast']);
  });

  it('gives each stage a context with the pipeline, its name, its index and a live signal', async () => {
    const seen: StageContext[] = [];
    const p = new Pipeline<string>('ctx')
      .addStage('a', (s, ctx) => (seen.push(ctx), s))
      .addStage('b', (s, ctx) => (seen.push(ctx), s));
    await p.run('x');
    expect(seen.map(({ pipeline, stage, index }) => ({ pipeline, stage, index }))).toEqual([
      { pipeline: 'ctx', stage: 'a', index: 0 },
      { pipeline: 'ctx', stage: 'b', index: 1 },
    ]);
    expect(seen[0].signal).toBeInstanceOf(AbortSignal);
    expect(seen[0].signal.aborted).toBe(false);
    expect(seen[1].signal).toBe(seen[0].signal);
  });

  it('stops at the first failure in the middle and reports its index', async () => {
    const last = jest.fn((n: number) => n);
    const p = new Pipeline<number>('mid')
      .addStage('one', (n) => n + 1)
      .addStage('two', () => Promise.reject(new Error('down')))
      .addStage('three', last);
    await expect(p.run(0)).rejects.toMatchObject({ stage: 'two', index: 1 });
    expect(last).not.toHaveBeenCalled();
  });

  it('hands a streaming last stage back as the same AsyncIterable', async () => {
    let stream: AsyncIterable<string> | undefined;
    const p = new Pipeline<string>('stream')
      .addStage('split', (s) => s.split(' '))
      .addStage('tokens', (words) => {
        stream = (async function* () {
          for (const word of words) yield word;
        })();
        return stream;
      });
    const output = await p.run('a b c');
    expect(output).toBe(stream);
    const tokens: string[] = [];
    for await (const token of output) tokens.push(token);
    expect(tokens).toEqual(['a', 'b', 'c']);
  });

  it('does not consume an async generator stage before handing it back', async () => {
    const produced: number[] = [];
    const p = new Pipeline<number>('lazy').addStage('count', async function* (n) {
      for (let i = 0; i < n; i++) {
        produced.push(i);
        yield i;
      }
    });
    const output = await p.run(3);
    expect(produced).toEqual([]);
    const items: number[] = [];
    for await (const item of output) items.push(item);
    expect(items).toEqual([0, 1, 2]);
  });

  it('returns a new pipeline from each builder call, leaving the original unchanged', async () => {
    const base = new Pipeline<number>('immutable');
    const doubled = base.addStage('double', (n) => n * 2);
    const recovering = doubled.withErrorHandler(() => 0);
    expect(base.stageCount()).toBe(0);
    expect(doubled.stageCount()).toBe(1);
    expect(recovering.stageCount()).toBe(1);
    await expect(base.run(4)).resolves.toBe(4);
    await expect(doubled.run(4)).resolves.toBe(8);
    expect(recovering.name).toBe('immutable');
  });
});

describe('Pipeline error handler', () => {
  it('passes the stage name, the error itself and the failed stage input', async () => {
    const failure = new Error('nope');
    const handler = jest.fn((_stage: string, _error: unknown, _input: unknown) => 'fallback');
    const p = new Pipeline<string>('handler')
      .addStage('first', (s) => `${s}+1`)
      .addStage('second', () => Promise.reject(failure))
      .withErrorHandler(handler);
    await expect(p.run('in')).resolves.toBe('fallback');
    expect(handler).toHaveBeenCalledTimes(1);
    expect(handler).toHaveBeenCalledWith('second', failure, 'in+1');
  });

  it('awaits an async handler and feeds its value to the next stage', async () => {
    const p = new Pipeline<number>('async-handler')
      .addStage('fail', (): number => {
        throw new Error('x');
      })
      .addStage('add', (n) => n + 1)
      .withErrorHandler(async () => {
        await sleep(2);
        return 41;
      });
    await expect(p.run(0)).resolves.toBe(42);
  });

  it('fails the run with the handler error as cause when the handler throws', async () => {
    const rethrown = new Error('not recoverable');
    const p = new Pipeline<string>('handler-throws')
      .addStage('fail', boom('original'))
      .withErrorHandler(() => {
        throw rethrown;
      });
    await expect(p.run('x')).rejects.toMatchObject({ stage: 'fail', index: 0, cause: rethrown });
  });

  it('fails the run when an async handler rejects', async () => {
    const p = new Pipeline<string>('handler-rejects')
      .addStage('fail', boom('original'))
      .withErrorHandler(() => Promise.reject(new Error('still broken')));
    const error = await p.run('x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PipelineStageError);
    expect((error as PipelineStageError).cause).toEqual(new Error('still broken'));
  });

  it('is not called when every stage succeeds', async () => {
    const handler = jest.fn(() => 'unused');
    const p = new Pipeline<string>('no-failure').addStage('ok', (s) => s).withErrorHandler(handler);
    await expect(p.run('fine')).resolves.toBe('fine');
    expect(handler).not.toHaveBeenCalled();
  });
});

describe('Pipeline.executeTimed', () => {
  /** A pipeline timed by a fake clock, which only the stages move. */
  function timed<I>(name: string, clock = new FakeClock()) {
    return { clock, pipeline: new Pipeline<I>(name, PolicyEngine.standalone(clock)) };
  }

  it('reports each stage as long as the clock moved while it ran, to the fraction of a ms', async () => {
    const { clock, pipeline } = timed<number>('timing');
    const p = pipeline
      .addStage('slow', async (n) => (clock.advance(20), n + 1))
      .addStage('tiny', (n) => (clock.advance(0.375), n * 2))
      .addStage('instant', (n) => n);
    const { output, stageTimings } = await p.executeTimed(1);
    expect(output).toBe(4);
    expect(stageTimings).toEqual([
      { index: 0, name: 'slow', durationMs: 20 },
      { index: 1, name: 'tiny', durationMs: 0.375 },
      { index: 2, name: 'instant', durationMs: 0 },
    ]);
  });

  it('counts the waits of a stage policy, on the same clock', async () => {
    const { clock, pipeline } = timed<string>('timing');
    let calls = 0;
    const p = pipeline.addStage(
      'flaky',
      (s) => (++calls === 1 ? Promise.reject(new Error('down')) : s),
      { policy: { retry: { maxAttempts: 2, baseDelayMs: 250, jitter: 'none' } } },
    );
    const done = p.executeTimed('x');
    await flushMicrotasks();
    expect(clock.pendingSleeps).toBe(1); // the retry's backoff
    clock.advance(250);
    const { stageTimings } = await done;
    expect(stageTimings).toEqual([{ index: 0, name: 'flaky', durationMs: 250 }]);
  });

  it('reads monotonicNow() when the clock has it, not the wall clock', async () => {
    const clock = new FakeClock();
    let monotonic = 1000.125;
    const precise = Object.assign(clock, { monotonicNow: () => monotonic });
    const { pipeline } = timed<string>('timing', precise);
    const p = pipeline.addStage('step', (s) => {
      monotonic += 2.5;
      clock.advance(7); // the wall clock moves too, and must not be what is measured
      return s;
    });
    const { stageTimings } = await p.executeTimed('x');
    expect(stageTimings[0].durationMs).toBe(2.5);
  });

  it('includes a stage that failed and was recovered, its handler time included', async () => {
    const { clock, pipeline } = timed<string>('timing');
    const p = pipeline
      .addStage('fail', (): string => {
        clock.advance(3);
        throw new Error('x');
      })
      .addStage('after', (s) => `${s}!`)
      .withErrorHandler(() => (clock.advance(1.5), 'r'));
    const { output, stageTimings } = await p.executeTimed('in');
    expect(output).toBe('r!');
    expect(stageTimings.map(({ name, durationMs }) => [name, durationMs])).toEqual([
      ['fail', 4.5],
      ['after', 0],
    ]);
  });

  it('rejects like run when a stage fails without a handler', async () => {
    const p = new Pipeline<string>('timing').addStage('fail', boom('x'));
    await expect(p.executeTimed('in')).rejects.toBeInstanceOf(PipelineStageError);
  });

  it('times a pipeline built with new Pipeline(name) on the system clock', async () => {
    // Each reading of performance.now() is 1.625 ms after the last: a stage is read at its start
    // and its end, nothing in between.
    let now = 5_000;
    const spy = jest.spyOn(performance, 'now').mockImplementation(() => (now += 1.625));
    try {
      const p = new Pipeline<string>('system').addStage('s', (s) => s);
      const { stageTimings } = await p.executeTimed('x');
      expect(stageTimings[0].durationMs).toBe(1.625);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('Pipeline validation', () => {
  it('rejects an empty pipeline name', () => {
    expect(() => new Pipeline('')).toThrow(InvalidOptionsError);
  });

  it('rejects a stage without a function, naming the stage', () => {
    const p = new Pipeline<string>('v');
    expect(() => p.addStage('broken', 'nope' as any)).toThrow(
      new InvalidOptionsError(
        'pipeline "v" stage "broken": fn',
        'should be a function, got "nope"',
      ),
    );
  });

  it('rejects an empty stage name and a non-function error handler', () => {
    const p = new Pipeline<string>('v');
    expect(() => p.addStage('', (s) => s)).toThrow(InvalidOptionsError);
    expect(() => p.withErrorHandler(42 as any)).toThrow(InvalidOptionsError);
  });

  it('rejects a negative timeoutMs before any stage runs', async () => {
    const stage = jest.fn((s: string) => s);
    const p = new Pipeline<string>('v').addStage('s', stage);
    await expect(p.run('x', { timeoutMs: -1 })).rejects.toThrow(
      new InvalidOptionsError(
        'pipeline "v" run options: timeoutMs',
        'should be a number >= 0, got -1',
      ),
    );
    expect(stage).not.toHaveBeenCalled();
  });
});
