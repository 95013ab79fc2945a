import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Orchestrator, OrchestratorModule, type OrchestratorEvent } from '../lib/index.js';
import { FakeClock } from './support/fake-clock.js';

/** `orchestrator.pipeline(name)` times its stages on the application's clock (`forRoot({ clock })`). */

let app: INestApplication | undefined;

afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function orchestratorWith(clock: FakeClock): Promise<Orchestrator> {
  const moduleRef = await Test.createTestingModule({
    imports: [OrchestratorModule.forRoot({ clock })],
  }).compile();
  app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app.get(Orchestrator);
}

describe("a pipeline of the application, on the application's clock", () => {
  it('reports stage timings and event durations as the fake clock moved', async () => {
    const clock = new FakeClock();
    const orchestrator = await orchestratorWith(clock);
    const events: OrchestratorEvent[] = [];
    const subscription = orchestrator.events$.subscribe((event) => events.push(event));
    const p = orchestrator
      .pipeline<string>('chat')
      .addStage('retrieve', (s) => (clock.advance(12.25), `${s}+docs`))
      .addStage('infer', (s) => (clock.advance(0.5), s.toUpperCase()));

    const { output, stageTimings } = await p.executeTimed('q');
    subscription.unsubscribe();

    expect(output).toBe('Q+DOCS');
    expect(stageTimings).toEqual([
      { index: 0, name: 'retrieve', durationMs: 12.25 },
      { index: 1, name: 'infer', durationMs: 0.5 },
    ]);
    const durations = events.flatMap((e) =>
      e.type === 'pipeline.stage.finished' || e.type === 'pipeline.finished'
        ? [[e.type, e.durationMs]]
        : [],
    );
    expect(durations).toEqual([
      ['pipeline.stage.finished', 12.25],
      ['pipeline.stage.finished', 0.5],
      ['pipeline.finished', 12.75],
    ]);
  });
});
