import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  Backpressure,
  CircuitBreaker,
  Dedupe,
  InvalidOptionsError,
  OrchestratorModule,
  Orchestrator,
  Retry,
  RetryPolicy,
  type OrchestratorModuleOptions,
} from '../lib/index.js';

async function bootstrap(options: OrchestratorModuleOptions): Promise<void> {
  const moduleRef = await Test.createTestingModule({
    imports: [OrchestratorModule.forRoot(options)],
  }).compile();
  await moduleRef.init();
  await moduleRef.close();
}

describe('unknown option keys', () => {
  it('fails the bootstrap on a misspelt key inside a section, naming the closest known one', async () => {
    const policies = { llm: { retry: { baseDelay: 200 } } } as never;
    await expect(bootstrap({ policies })).rejects.toThrow(
      'policy "llm": retry.baseDelay is not an option; did you mean baseDelayMs?',
    );
  });

  it('fails the bootstrap on a misspelt section, naming the closest known one', async () => {
    const policies = { llm: { circuitbreaker: { threshold: 2 } } } as never;
    await expect(bootstrap({ policies })).rejects.toThrow(
      'policy "llm": circuitbreaker is not a policy section; did you mean circuitBreaker?',
    );
  });

  it('fails the bootstrap from forRootAsync results too', async () => {
    const moduleRef = Test.createTestingModule({
      imports: [
        OrchestratorModule.forRootAsync({
          useFactory: async () => ({ policies: { llm: { dedupe: { ttl: 5 } } } }) as never,
        }),
      ],
    }).compile();
    await expect(moduleRef).rejects.toThrow(
      'policy "llm": dedupe.ttl is not an option; did you mean ttlMs?',
    );
  });

  it('refuses an unknown key in inline options when the class is defined', () => {
    const define = () => {
      class Inline {
        @CircuitBreaker({ treshold: 3 } as never)
        async call(): Promise<void> {}
      }
      return Inline;
    };
    expect(define).toThrow(InvalidOptionsError);
    expect(define).toThrow(
      '@CircuitBreaker on Inline.call: circuitBreaker.treshold is not an option; did you mean threshold?',
    );
  });

  it('lists the known keys when nothing is close', () => {
    const define = () => {
      class Far {
        @Backpressure({ capacity: 1, zzzzzzzz: 1 } as never)
        async call(): Promise<void> {}
      }
      return Far;
    };
    expect(define).toThrow('backpressure.zzzzzzzz is not an option; known: name, capacity');
  });
});

describe('durations and counts are finite and within the timer limit', () => {
  it.each([
    [
      { retry: { maxDelayMs: Infinity } },
      'retry.maxDelayMs should be a finite number >= 1, got Infinity',
    ],
    [
      { retry: { maxDelayMs: 3e9 } },
      "retry.maxDelayMs should be at most 2147483647 ms (Node's timer limit), got 3000000000",
    ],
    [
      { dedupe: { leaseMs: Infinity } },
      'dedupe.leaseMs should be a finite number >= 1, got Infinity',
    ],
    [
      { dedupe: { ttlMs: 2 ** 53 } },
      "dedupe.ttlMs should be at most 2147483647 ms (Node's timer limit)",
    ],
    [
      { backpressure: { capacity: 2 ** 53 } },
      'backpressure.capacity should be an integer >= 1, got 9007199254740992',
    ],
    [
      { backpressure: { capacity: 1, maxWaitMs: NaN } },
      'backpressure.maxWaitMs should be a finite number >= 0, got NaN',
    ],
    [
      { retry: { maxAttempts: Infinity } },
      'retry.maxAttempts should be an integer >= 1, got Infinity',
    ],
  ])('refuses %j', async (policy, message) => {
    await expect(bootstrap({ policies: { p: policy as never } })).rejects.toThrow(
      `policy "p": ${message}`,
    );
  });

  it('caps a Retry-After hint far beyond maxDelayMs at maxDelayMs, never wraps it', () => {
    const policy = new RetryPolicy({ maxDelayMs: 5_000, jitter: 'none' });
    const thirtyDays = { retryAfterMs: 30 * 24 * 3600 * 1000 };
    expect(policy.nextDelay(thirtyDays, 1, 0)).toBe(5_000);
  });
});

describe('state lives under the policy name', () => {
  it('shares one circuit between a decorated method and orchestrator.circuit(policy)', async () => {
    @Injectable()
    class Llm {
      @CircuitBreaker('llm')
      async complete(): Promise<string> {
        throw new Error('down');
      }
    }
    const moduleRef = await Test.createTestingModule({
      imports: [
        OrchestratorModule.forRoot({ policies: { llm: { circuitBreaker: { threshold: 2 } } } }),
      ],
      providers: [Llm],
    }).compile();
    await moduleRef.init();
    const llm = moduleRef.get(Llm);
    await llm.complete().catch(() => undefined);
    await llm.complete().catch(() => undefined);
    expect(await moduleRef.get(Orchestrator).circuit('llm').state()).toBe('open');
    await moduleRef.close();
  });

  it('keeps backpressure under the policy name', async () => {
    @Injectable()
    class Capped {
      @Backpressure('cap')
      @Retry({ maxAttempts: 1 })
      @Dedupe()
      async run(): Promise<number> {
        return 1;
      }
    }
    const moduleRef = await Test.createTestingModule({
      imports: [
        OrchestratorModule.forRoot({ policies: { cap: { backpressure: { capacity: 3 } } } }),
      ],
      providers: [Capped],
    }).compile();
    await moduleRef.init();
    expect(moduleRef.get(Orchestrator).backpressure('cap').hardCapacity()).toBe(3);
    await moduleRef.close();
  });
});
