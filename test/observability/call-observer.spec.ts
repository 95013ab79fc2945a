import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import {
  Backpressure,
  CircuitBreaker,
  Orchestrator,
  OrchestratorModule,
  type OrchestratorEvent,
} from '../../lib/index.js';
import { OrchestratorMetricsModule } from '../../lib/otel/index.js';

@Injectable()
class Tokens {
  @CircuitBreaker({ name: 'tokens' })
  async *stream(fail: boolean): AsyncGenerator<string> {
    yield 'a';
    if (fail) throw new Error('cut off');
    yield 'b';
  }

  @Backpressure({ capacity: 1 })
  async slow(release: Promise<void>): Promise<string> {
    await release;
    return 'done';
  }
}

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function start() {
  const moduleRef = await Test.createTestingModule({
    imports: [
      OrchestratorModule.forRoot(),
      OrchestratorMetricsModule.forRoot({ meterProvider: new MeterProvider() }),
    ],
    providers: [Tokens],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  apps.push(app);
  await app.init();
  const finished: Array<Extract<OrchestratorEvent, { type: 'call.finished' }>> = [];
  app.get(Orchestrator).events$.subscribe((event) => {
    if (event.type === 'call.finished') finished.push(event);
  });
  return { tokens: app.get(Tokens), finished };
}

async function drain(stream: AsyncIterable<string>): Promise<string[]> {
  const items: string[] = [];
  for await (const item of stream) items.push(item);
  return items;
}

describe('call.finished', () => {
  it('reports a stream once, when it ends, with its outcome', async () => {
    const { tokens, finished } = await start();
    expect(await drain(tokens.stream(false))).toEqual(['a', 'b']);
    await expect(drain(tokens.stream(true))).rejects.toThrow('cut off');
    expect(finished.map((e) => [e.method, e.policy, e.outcome])).toEqual([
      ['Tokens.stream', 'Tokens.stream', 'success'],
      ['Tokens.stream', 'Tokens.stream', 'failure'],
    ]);
  });

  it('reports a consumer that leaves a stream early once, as a success', async () => {
    const { tokens, finished } = await start();
    for await (const item of tokens.stream(false)) if (item === 'a') break;
    expect(finished.map((e) => e.outcome)).toEqual(['success']);
  });

  it('reports a refusal by a policy as rejected', async () => {
    const { tokens, finished } = await start();
    let release!: () => void;
    const held = tokens.slow(new Promise<void>((resolve) => (release = resolve)));
    await expect(tokens.slow(Promise.resolve())).rejects.toThrow(/capacity/);
    release();
    await held;
    expect(finished.map((e) => e.outcome)).toEqual(['rejected', 'success']);
    expect(finished[1].durationMs).toBeGreaterThanOrEqual(0);
  });
});
