import { describe, expect, it, jest } from '@jest/globals';
import { CircuitOpenError } from '../circuit-breaker/circuit-open.error.js';
import { systemClock } from '../core/clock.js';
import { silentSink } from '../core/events.js';
import { InvalidOptionsError } from '../core/invalid-options.error.js';
import type { Call, Layer, Step } from '../core/layer.js';
import type { PolicyOptions } from '../kinds/policy-kinds.js';
import { PolicyEngine } from '../core/policy-engine.js';
import { circuitBreakerKind } from '../circuit-breaker/circuit-breaker.kind.js';
import { Pipeline } from './pipeline.js';
import { PipelineStageError } from './pipeline-stage.error.js';

const fastRetry = { baseDelayMs: 1, jitter: 'none' } as const;

/** A runtime with named policies, as the Nest module builds one, but without Nest. */
function runtimeWith(policies: Record<string, PolicyOptions>): PolicyEngine {
  return new PolicyEngine({ stores: new Map(), policies, clock: systemClock, events: silentSink });
}

/** Fails `failures` times, then answers; counts its calls. */
function flaky(failures: number) {
  const fn = jest.fn(async (input: string) => {
    if (fn.mock.calls.length <= failures) throw new Error(`failure ${fn.mock.calls.length}`);
    return `${input}:ok`;
  });
  return fn;
}

describe('stage policy: retry', () => {
  it('retries a flaky stage with inline retry options until it succeeds', async () => {
    const stage = flaky(2);
    const p = new Pipeline<string>('retrying').addStage('call', stage, {
      policy: { retry: { maxAttempts: 3, ...fastRetry } },
    });
    await expect(p.run('in')).resolves.toBe('in:ok');
    expect(stage).toHaveBeenCalledTimes(3);
  });

  it('fails with the last error once the attempts run out, and only then calls the handler', async () => {
    const stage = flaky(5);
    const handler = jest.fn(() => 'fallback');
    const p = new Pipeline<string>('exhausted').addStage('call', stage, {
      policy: { retry: { maxAttempts: 2, ...fastRetry } },
    });
    await expect(p.run('in')).rejects.toMatchObject({
      stage: 'call',
      cause: new Error('failure 2'),
    });
    expect(stage).toHaveBeenCalledTimes(2);

    await expect(p.withErrorHandler(handler).run('in')).resolves.toBe('fallback');
    expect(handler).toHaveBeenCalledTimes(1);
    expect(stage).toHaveBeenCalledTimes(4);
  });

  it('applies a policy to its own stage alone', async () => {
    const unprotected = flaky(1);
    const p = new Pipeline<string>('scoped')
      .addStage('protected', flaky(1), { policy: { retry: { maxAttempts: 2, ...fastRetry } } })
      .addStage('unprotected', unprotected);
    await expect(p.run('in')).rejects.toMatchObject({ stage: 'unprotected', index: 1 });
    expect(unprotected).toHaveBeenCalledTimes(1);
  });
});

describe('stage policy: circuit breaker', () => {
  it('opens the stage circuit, kept under <pipeline>.<stage>, and then rejects without calling', async () => {
    const runtime = PolicyEngine.standalone();
    const stage = jest.fn(() => Promise.reject(new Error('down')));
    const p = new Pipeline<string>('breaker', runtime).addStage('call', stage, {
      policy: { circuitBreaker: { threshold: 2, recoveryWindowMs: 60_000 } },
    });
    await expect(p.run('a')).rejects.toBeInstanceOf(PipelineStageError);
    await expect(p.run('b')).rejects.toBeInstanceOf(PipelineStageError);
    expect(await runtime.lookup(circuitBreakerKind, 'breaker.call').state()).toBe('open');

    const error = await p.run('c').catch((e: unknown) => e);
    expect((error as PipelineStageError).cause).toBeInstanceOf(CircuitOpenError);
    expect((error as PipelineStageError).cause).toMatchObject({ circuit: 'breaker.call' });
    expect(stage).toHaveBeenCalledTimes(2);
  });

  it('keeps an inline section with a name under that name', async () => {
    const runtime = PolicyEngine.standalone();
    const p = new Pipeline<string>('named-inline', runtime).addStage(
      'call',
      () => Promise.reject(new Error('down')),
      { policy: { circuitBreaker: { name: 'llm-circuit', threshold: 1 } } },
    );
    await p.run('a').catch(() => undefined);
    expect(await runtime.lookup(circuitBreakerKind, 'llm-circuit').state()).toBe('open');
    expect(runtime.names(circuitBreakerKind)).toEqual(['llm-circuit']);
  });

  it('puts the circuit outside the retry: retried failures that end well never trip it', async () => {
    const runtime = PolicyEngine.standalone();
    const stage = flaky(2);
    const p = new Pipeline<string>('order', runtime).addStage('call', stage, {
      policy: { retry: { maxAttempts: 3, ...fastRetry }, circuitBreaker: { threshold: 1 } },
    });
    await expect(p.run('in')).resolves.toBe('in:ok');
    expect(await runtime.lookup(circuitBreakerKind, 'order.call').state()).toBe('closed');
    expect(stage).toHaveBeenCalledTimes(3);
  });
});

describe('stage policy: named policies', () => {
  it("shares the circuit of a named policy by its section's name", async () => {
    const runtime = runtimeWith({
      llm: { circuitBreaker: { name: 'llm', threshold: 1, recoveryWindowMs: 60_000 } },
    });
    const failing = new Pipeline<string>('one', runtime).addStage(
      'call',
      () => Promise.reject(new Error('down')),
      { policy: 'llm' },
    );
    const healthy = jest.fn((s: string) => s);
    const other = new Pipeline<string>('two', runtime).addStage('call', healthy, { policy: 'llm' });

    await failing.run('a').catch(() => undefined);
    expect(await runtime.lookup(circuitBreakerKind, 'llm').state()).toBe('open');
    await expect(other.run('b')).rejects.toMatchObject({ cause: { code: 'CIRCUIT_OPEN' } });
    expect(healthy).not.toHaveBeenCalled();
  });

  it('names the known policies when a stage names an unknown one', () => {
    const p = new Pipeline<string>('p', runtimeWith({ llm: {}, search: {} }));
    expect(() => p.addStage('s', (x) => x, { policy: 'missing' })).toThrow(
      new InvalidOptionsError(
        'pipeline "p" stage "s"',
        'names policy "missing", which OrchestratorModule.forRoot({ policies }) does not define (known policies: "llm", "search")',
      ),
    );
  });

  it('explains that a pipeline built without a runtime has no named policies', () => {
    const p = new Pipeline<string>('standalone');
    expect(() => p.addStage('s', (x) => x, { policy: 'llm' })).toThrow(InvalidOptionsError);
    expect(() => p.addStage('s', (x) => x, { policy: 'llm' })).toThrow(/without a runtime/);
  });
});

describe('stage policy: compilation', () => {
  /** Replaces each layer with one that records, on entry, its kind and the call it saw. */
  function recordingRuntime() {
    const runtime = PolicyEngine.standalone();
    const entered: Array<{ kind: string; call: Call }> = [];
    const layer = jest.spyOn(runtime, 'layer').mockImplementation((spec): Layer => {
      const enter = (call: Call) => entered.push({ kind: spec.kind.section, call });
      return {
        promise: (next: Step, call: Call) => (enter(call), next.promise(call)),
        stream: (next: Step, call: Call) => (enter(call), next.stream(call)),
      };
    });
    return { runtime, entered, layer };
  }

  const allSections: PolicyOptions = {
    retry: { maxAttempts: 1 },
    circuitBreaker: {},
    dedupe: {},
    backpressure: { capacity: 2 },
  };

  it('layers the sections backpressure > dedupe > circuitBreaker > retry, outermost first', async () => {
    const { runtime, entered } = recordingRuntime();
    await new Pipeline<string>('order', runtime)
      .addStage('s', (x) => x, { policy: allSections })
      .run('in');
    expect(entered.map((e) => e.kind)).toEqual([
      'backpressure',
      'dedupe',
      'circuitBreaker',
      'retry',
    ]);
  });

  it('compiles the policy once, when the stage is added, not on every run', async () => {
    const { runtime, layer } = recordingRuntime();
    const p = new Pipeline<string>('once', runtime).addStage('s', (x) => x, {
      policy: allSections,
    });
    expect(layer).toHaveBeenCalledTimes(4);
    for (let i = 0; i < 3; i++) await p.run(`run ${i}`);
    expect(layer).toHaveBeenCalledTimes(4);
    expect(layer.mock.calls[0][1].id).toBe('once.s');
  });

  it('passes the input and the context as the call arguments (a shared execution can fuse the signals)', async () => {
    const { runtime, entered } = recordingRuntime();
    const p = new Pipeline<{ q: string }>('args', runtime).addStage('s', (x) => x, {
      policy: { dedupe: {} },
    });
    await p.run({ q: 'hello' });
    expect(entered[0].call.args).toEqual([
      { q: 'hello' },
      expect.objectContaining({ pipeline: 'args', stage: 's', index: 0 }),
    ]);
  });

  it('validates inline options when the stage is added, naming the stage', () => {
    const p = new Pipeline<string>('bad');
    expect(() => p.addStage('s', (x) => x, { policy: { retry: { maxAttempts: 0 } } })).toThrow(
      new InvalidOptionsError(
        'pipeline "bad" stage "s" policy: retry.maxAttempts',
        'should be an integer >= 1, got 0',
      ),
    );
    expect(() => p.addStage('s', (x) => x, { policy: { retries: {} } as PolicyOptions })).toThrow(
      /pipeline "bad" stage "s" policy: retries is not a policy section/,
    );
  });
});
