import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  Dedupe,
  Orchestrator,
  OrchestratorModule,
  RateLimit,
  isRateLimitedError,
} from '../lib/index.js';
import { FakeClock } from './support/fake-clock.js';

interface Completion {
  text: string;
  usage: { total_tokens: number };
}

@Injectable()
class Llm {
  calls = 0;

  @RateLimit('openai')
  @Dedupe()
  async complete(prompt: string): Promise<Completion> {
    this.calls++;
    return { text: prompt, usage: { total_tokens: 10 } };
  }

  @RateLimit('openai')
  async embed(text: string): Promise<Completion> {
    this.calls++;
    return { text, usage: { total_tokens: 1 } };
  }
}

async function start() {
  const clock = new FakeClock();
  const moduleRef = await Test.createTestingModule({
    imports: [
      OrchestratorModule.forRoot({
        clock,
        policies: {
          openai: {
            rateLimit: {
              requests: { limit: 3, intervalMs: 60_000 },
              tokens: {
                limit: 1000,
                intervalMs: 60_000,
                estimate: () => 100,
                actual: (r: Completion) => r.usage.total_tokens,
              },
            },
          },
        },
      }),
    ],
    providers: [Llm],
  }).compile();
  await moduleRef.init();
  return { moduleRef, clock, llm: moduleRef.get(Llm), orchestrator: moduleRef.get(Orchestrator) };
}

describe('@RateLimit in a Nest application', () => {
  it('shares one limiter under the policy name and charges the usage each call reports', async () => {
    const { moduleRef, llm, orchestrator } = await start();
    await llm.complete('a');
    await llm.embed('b');
    expect(orchestrator.rateLimits()).toEqual(['openai']);
    expect(await orchestrator.rateLimit('openai').available()).toEqual({
      requests: 1,
      tokens: 1000 - 10 - 1,
    });
    await llm.complete('c');
    const refused = await llm.embed('d').catch((error: unknown) => error);
    expect(isRateLimitedError(refused)).toBe(true);
    expect(llm.calls).toBe(3);
    await moduleRef.close();
  });

  it('reserves nothing for a call answered by a shared execution below it', async () => {
    const { moduleRef, llm, orchestrator } = await start();
    await Promise.all([llm.complete('same'), llm.complete('same'), llm.complete('same')]);
    expect(llm.calls).toBe(1);
    expect((await orchestrator.rateLimit('openai').available()).requests).toBe(2);
    await moduleRef.close();
  });

  it('resets a limiter by hand, and names the known limiters for an unknown one', async () => {
    const { moduleRef, llm, orchestrator } = await start();
    await llm.embed('a');
    await orchestrator.rateLimit('openai').reset();
    expect((await orchestrator.rateLimit('openai').available()).requests).toBe(3);
    expect(() => orchestrator.rateLimit('nope')).toThrow(
      'Orchestrator.rateLimit("nope") names no rate limiter of this application (known: "openai")',
    );
    await moduleRef.close();
  });
});
