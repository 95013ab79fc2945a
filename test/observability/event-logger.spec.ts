import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Injectable, type INestApplication, type LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { CircuitBreaker, Orchestrator, OrchestratorModule, Retry } from '../../lib/index.js';
import type { EventBus } from '../../lib/core/events.js';
import { GAVE_UP_LOG_INTERVAL_MS } from '../../lib/nest/orchestrator-event-logger.js';
import { ORCHESTRATOR_EVENTS } from '../../lib/nest/orchestrator.constants.js';
import { FakeClock, flushMicrotasks } from '../support/fake-clock.js';

@Injectable()
class Llm {
  @CircuitBreaker('llm')
  @Retry('llm')
  async complete(prompt: string): Promise<string> {
    if (prompt === 'fail') throw new Error('provider down');
    return 'ok';
  }
}

/** Keeps the lines of the `Orchestrator` context. */
class Lines implements LoggerService {
  readonly lines: string[] = [];
  log(message: string, context?: string) {
    if (context === 'Orchestrator') this.lines.push(`log ${message}`);
  }
  warn(message: string, context?: string) {
    if (context === 'Orchestrator') this.lines.push(`warn ${message}`);
  }
  error() {}
}

const policies = {
  llm: {
    circuitBreaker: { threshold: 3, recoveryWindowMs: 1_000 },
    retry: { maxAttempts: 2, baseDelayMs: 1, jitter: 'none' as const },
  },
};

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function start(logger: LoggerService | false) {
  const clock = new FakeClock();
  const moduleRef = await Test.createTestingModule({
    imports: [OrchestratorModule.forRoot({ policies, clock })],
    providers: [Llm],
  }).compile();
  const app = moduleRef.createNestApplication({ logger });
  apps.push(app);
  await app.init();
  return { app, clock, llm: app.get(Llm), orchestrator: app.get(Orchestrator) };
}

/** One failing call: its first attempt fails, the retry waits 1 ms and fails too. */
async function failOnce(llm: Llm, clock: FakeClock): Promise<void> {
  const call = llm.complete('fail').catch(() => undefined);
  await flushMicrotasks();
  clock.advance(1);
  await call;
}

describe('OrchestratorEventLogger', () => {
  it('logs each circuit transition with its reason', async () => {
    const logger = new Lines();
    const { orchestrator } = await start(logger);
    await orchestrator.circuit('llm').open();
    await orchestrator.circuit('llm').close();
    expect(logger.lines).toEqual([
      'warn circuit "llm" closed -> open: failures reached the breaker threshold (or open() was called)',
      'log circuit "llm" open -> closed: closed by hand (close())',
    ]);
  });

  it('listens to the notable events only, so calls keep skipping their per-call events', async () => {
    const logger = new Lines();
    const { app, orchestrator } = await start(logger);
    const bus = app.get<EventBus>(ORCHESTRATOR_EVENTS);
    expect([bus.active, bus.notable]).toEqual([false, true]);
    await orchestrator.circuit('llm').open();
    expect(logger.lines).toHaveLength(1);
    await app.close();
    apps.length = 0;
    expect(bus.notable).toBe(false);
  });

  it('logs exhausted retries at most once per policy per interval, with the count in between', async () => {
    const logger = new Lines();
    const { llm, clock, orchestrator } = await start(logger);
    for (let i = 0; i < 2; i++) await failOnce(llm, clock);
    await orchestrator.circuit('llm').close(); // keep the circuit out of the way
    logger.lines.length = 0;
    await failOnce(llm, clock);
    clock.advance(GAVE_UP_LOG_INTERVAL_MS);
    await failOnce(llm, clock);
    expect(logger.lines).toEqual([
      'warn retry "llm" gave up after 2 attempts: Error: provider down (2 more since the last report)',
    ]);
  });

  it('logs the first exhaustion of a policy at once', async () => {
    const logger = new Lines();
    const { llm, clock } = await start(logger);
    await failOnce(llm, clock);
    expect(logger.lines).toEqual([
      'warn retry "llm" gave up after 2 attempts: Error: provider down',
    ]);
  });

  it('does not listen (so hot paths build no event) while Nest logs nothing', async () => {
    const { app } = await start(false);
    const bus = (app.get(Orchestrator) as unknown as { bus: { active: boolean } }).bus;
    expect(bus.active).toBe(false);
  });
});
