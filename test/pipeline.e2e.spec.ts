import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  CircuitBreaker,
  InvalidOptionsError,
  Orchestrator,
  OrchestratorModule,
  Pipeline,
  isCircuitOpenError,
  isPipelineStageError,
  type OrchestratorEvent,
  type PolicyOptions,
} from '../lib/index.js';

/** A provider that shares the `llm` circuit with pipeline stages. */
@Injectable()
class Llm {
  calls = 0;

  @CircuitBreaker('llm')
  async complete(prompt: string): Promise<string> {
    this.calls++;
    return `answer to ${prompt}`;
  }
}

const policies: Record<string, PolicyOptions> = {
  llm: {
    circuitBreaker: { name: 'llm', threshold: 2, recoveryWindowMs: 60_000 },
    retry: { maxAttempts: 2, baseDelayMs: 1, jitter: 'none' },
  },
};

const apps: INestApplication[] = [];

async function start(): Promise<{ app: INestApplication; orchestrator: Orchestrator }> {
  const moduleRef = await Test.createTestingModule({
    imports: [OrchestratorModule.forRoot({ policies })],
    providers: [Llm],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  apps.push(app);
  await app.init();
  return { app, orchestrator: app.get(Orchestrator) };
}

/** Collects the pipeline events of `events$` while `work` runs. */
async function pipelineEvents(orchestrator: Orchestrator, work: () => Promise<unknown>) {
  const events: OrchestratorEvent[] = [];
  const subscription = orchestrator.events$.subscribe((event) => {
    if (event.type.startsWith('pipeline.')) events.push(event);
  });
  try {
    await work().catch(() => undefined);
  } finally {
    subscription.unsubscribe();
  }
  return events;
}

const down = () => Promise.reject(new Error('provider down'));

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

describe('Orchestrator.pipeline', () => {
  it('builds a named Pipeline and lists every name in pipelines()', async () => {
    const { orchestrator } = await start();
    expect(orchestrator.pipelines()).toEqual([]);
    const chat = orchestrator.pipeline<string>('chat').addStage('upper', (s) => s.toUpperCase());
    orchestrator.pipeline<number>('summarise');
    orchestrator.pipeline<string>('chat'); // the same name again is listed once
    expect(chat).toBeInstanceOf(Pipeline);
    expect(chat.name).toBe('chat');
    await expect(chat.run('hi')).resolves.toBe('HI');
    expect(orchestrator.pipelines()).toEqual(['chat', 'summarise']);
  });

  it('keeps pipeline names per application', async () => {
    const first = await start();
    const second = await start();
    first.orchestrator.pipeline('only-here');
    expect(second.orchestrator.pipelines()).toEqual([]);
  });
});

describe('stage policies in an application', () => {
  it('opens the named circuit, visible through Orchestrator.circuit and shared with @CircuitBreaker', async () => {
    const { app, orchestrator } = await start();
    let stageCalls = 0;
    const p = orchestrator
      .pipeline<string>('chat')
      .addStage('infer', () => (stageCalls++, down()), { policy: 'llm' });

    // The retry (maxAttempts 2) sits inside the circuit: each run counts as one failure.
    await expect(p.run('a')).rejects.toMatchObject({ stage: 'infer' });
    expect(await orchestrator.circuit('llm').failureCount()).toBe(1);
    await expect(p.run('b')).rejects.toMatchObject({ stage: 'infer' });
    expect(await orchestrator.circuit('llm').state()).toBe('open');
    expect(orchestrator.circuits()).toContain('llm');
    expect(stageCalls).toBe(4);

    const rejected = await p.run('c').catch((e: unknown) => e);
    expect(isPipelineStageError(rejected)).toBe(true);
    expect(isCircuitOpenError((rejected as { cause: unknown }).cause)).toBe(true);
    expect(stageCalls).toBe(4);

    const llm = app.get(Llm);
    const decorated = await llm.complete('d').catch((e: unknown) => e);
    expect(isCircuitOpenError(decorated)).toBe(true);
    expect(llm.calls).toBe(0);
  });

  it('lists an inline circuit under <pipeline>.<stage> and lets the service close it', async () => {
    const { orchestrator } = await start();
    let healthy = false;
    const p = orchestrator
      .pipeline<string>('summarise')
      .addStage('call', (s) => (healthy ? s : down()), {
        policy: { circuitBreaker: { threshold: 1, recoveryWindowMs: 60_000 } },
      });
    await p.run('x').catch(() => undefined);
    expect(orchestrator.circuits()).toContain('summarise.call');
    expect(await orchestrator.circuit('summarise.call').state()).toBe('open');

    healthy = true;
    await expect(p.run('x')).rejects.toMatchObject({ cause: { code: 'CIRCUIT_OPEN' } });
    await orchestrator.circuit('summarise.call').close();
    await expect(p.run('x')).resolves.toBe('x');
  });

  it('retries a flaky stage with the named policy and reports the retry', async () => {
    const { orchestrator } = await start();
    let calls = 0;
    const p = orchestrator
      .pipeline<string>('flaky')
      .addStage('infer', (s) => (++calls === 1 ? down() : `${s}!`), { policy: 'llm' });
    const events: OrchestratorEvent[] = [];
    const subscription = orchestrator.events$.subscribe((e) => events.push(e));
    await expect(p.run('ok')).resolves.toBe('ok!');
    subscription.unsubscribe();
    expect(calls).toBe(2);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'retry.scheduled', policy: 'llm', attempt: 1 }),
    );
  });

  it('refuses an unknown policy name when the stage is added, naming the known ones', async () => {
    const { orchestrator } = await start();
    const p = orchestrator.pipeline<string>('chat');
    expect(() => p.addStage('infer', (s) => s, { policy: 'openai' })).toThrow(InvalidOptionsError);
    expect(() => p.addStage('infer', (s) => s, { policy: 'openai' })).toThrow(
      /pipeline "chat" stage "infer" names policy "openai".*known policies: "llm"/,
    );
  });
});

describe('pipeline events on events$', () => {
  it('reports each stage with its outcome and a pipeline summary', async () => {
    const { orchestrator } = await start();
    const p = orchestrator
      .pipeline<string>('chat')
      .addStage('retrieve', (s) => `${s}+docs`)
      .addStage('infer', (): Promise<string> => down())
      .addStage('post', (s) => s.trim())
      .withErrorHandler(() => ' fallback ');

    const events = await pipelineEvents(orchestrator, () => p.run('q'));

    expect(events.map((e) => [e.type, 'stage' in e ? e.stage : '-'])).toEqual([
      ['pipeline.stage.started', 'retrieve'],
      ['pipeline.stage.finished', 'retrieve'],
      ['pipeline.stage.started', 'infer'],
      ['pipeline.stage.finished', 'infer'],
      ['pipeline.stage.started', 'post'],
      ['pipeline.stage.finished', 'post'],
      ['pipeline.finished', '-'],
    ]);
    const finished = events.filter((e) => e.type === 'pipeline.stage.finished');
    expect(finished.map((e) => [e.index, e.outcome])).toEqual([
      [0, 'success'],
      [1, 'recovered'],
      [2, 'success'],
    ]);
    expect(finished.every((e) => e.durationMs > 0)).toBe(true);
    expect(events[6]).toMatchObject({ pipeline: 'chat', stages: 3, outcome: 'success' });
    expect((events[6] as { durationMs: number }).durationMs).toBeGreaterThan(0);
  });

  it('reports a failure where the run stopped', async () => {
    const { orchestrator } = await start();
    const p = orchestrator
      .pipeline<string>('failing')
      .addStage('ok', (s) => s)
      .addStage('broken', () => down())
      .addStage('never', (s) => s);

    const events = await pipelineEvents(orchestrator, () => p.run('q'));

    expect(events.filter((e) => e.type === 'pipeline.stage.started')).toHaveLength(2);
    expect(events.at(-2)).toMatchObject({
      type: 'pipeline.stage.finished',
      stage: 'broken',
      index: 1,
      outcome: 'failure',
    });
    expect(events.at(-1)).toMatchObject({
      type: 'pipeline.finished',
      pipeline: 'failing',
      stages: 2,
      outcome: 'failure',
    });
  });

  it('reports an aborted stage and run', async () => {
    const { orchestrator } = await start();
    const controller = new AbortController();
    const p = orchestrator
      .pipeline<string>('aborting')
      .addStage('hang', () => new Promise<string>(() => undefined))
      .addStage('never', (s) => s);

    const events = await pipelineEvents(orchestrator, () => {
      const run = p.run('q', { signal: controller.signal });
      controller.abort('client went away');
      return run;
    });

    expect(events.map((e) => e.type)).toEqual([
      'pipeline.stage.started',
      'pipeline.stage.finished',
      'pipeline.finished',
    ]);
    expect(events[1]).toMatchObject({ stage: 'hang', outcome: 'aborted' });
    expect(events[2]).toMatchObject({ pipeline: 'aborting', stages: 1, outcome: 'aborted' });
  });
});
