import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Observable, lastValueFrom } from 'rxjs';
import {
  Backpressure,
  CircuitBreaker,
  Dedupe,
  Fallback,
  InvalidOptionsError,
  Orchestrator,
  OrchestratorModule,
  Retry,
  Signal,
  Timeout,
  TimeoutError,
  isStreamInterruptedError,
  isTimeoutError,
} from '../lib/index.js';

const never = () => new Promise<never>(() => undefined);

@Injectable()
class Provider {
  calls = 0;
  signals: AbortSignal[] = [];
  hang = true;

  @Backpressure({ name: 'cap', capacity: 1 })
  @Dedupe({ key: (prompt: string) => prompt })
  @Timeout(30)
  async complete(prompt: string, @Signal() signal?: AbortSignal): Promise<string> {
    this.calls++;
    this.signals.push(signal!);
    if (this.hang) return never();
    return `answer to ${prompt}`;
  }

  @Retry({ maxAttempts: 3, baseDelayMs: 1, jitter: 'none' })
  @Timeout('short')
  async flaky(@Signal() signal?: AbortSignal): Promise<string> {
    this.calls++;
    this.signals.push(signal!);
    if (this.calls < 3) return never();
    return 'third attempt';
  }

  @Fallback('secondModel')
  @CircuitBreaker({ name: 'primary', threshold: 1 })
  @Timeout(20)
  async primary(_prompt: string): Promise<string> {
    this.calls++;
    return never();
  }

  async secondModel(prompt: string, error: unknown): Promise<string> {
    return `second model answers ${prompt} after ${(error as Error).name}`;
  }

  @Fallback((error: unknown, prompt: string) => `fn:${prompt}:${isTimeoutError(error)}`)
  @Timeout(20)
  async byFunction(_prompt: string): Promise<string> {
    return never();
  }

  @Fallback('continueStream')
  async *tokens(): AsyncIterable<string> {
    yield 'one';
    yield 'two';
    throw new Error('provider dropped the stream');
  }

  async *continueStream(error: unknown): AsyncIterable<string> {
    if (isStreamInterruptedError(error)) yield `(continued after ${error.itemsDelivered})`;
    yield 'three';
  }

  teardowns = 0;

  @Timeout({ ms: 1000, firstItemMs: 20 })
  feed(): Observable<string> {
    return new Observable<string>(() => () => this.teardowns++);
  }
}

async function start() {
  const moduleRef = await Test.createTestingModule({
    imports: [OrchestratorModule.forRoot({ policies: { short: { timeout: 20 } } })],
    providers: [Provider],
  }).compile();
  await moduleRef.init();
  return {
    moduleRef,
    provider: moduleRef.get(Provider),
    orchestrator: moduleRef.get(Orchestrator),
  };
}

describe('@Timeout', () => {
  it('fails a hung call with TimeoutError, aborts its signal and frees its slot and claim', async () => {
    const { moduleRef, provider, orchestrator } = await start();
    const failure = await provider.complete('p').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TimeoutError);
    expect(failure).toMatchObject({ timeoutMs: 30, phase: 'call' });
    expect(provider.signals[0].aborted).toBe(true);
    expect(provider.signals[0].reason).toBe(failure);
    expect(await orchestrator.backpressure('cap').depth()).toBe(0);
    provider.hang = false;
    // The claim is gone: the same key executes again instead of joining the hung call.
    await expect(provider.complete('p')).resolves.toBe('answer to p');
    expect(provider.calls).toBe(2);
    await moduleRef.close();
  });

  it('bounds each attempt under @Retry with the full budget (a named timeout section)', async () => {
    const { moduleRef, provider } = await start();
    await expect(provider.flaky()).resolves.toBe('third attempt');
    expect(provider.signals.map((s) => s.aborted)).toEqual([true, true, false]);
    await moduleRef.close();
  });

  it('tears down an Observable source that sends nothing before firstItemMs', async () => {
    const { moduleRef, provider } = await start();
    const failure = await lastValueFrom(provider.feed()).catch((error: unknown) => error);
    expect(failure).toMatchObject({ name: 'TimeoutError', phase: 'first-item' });
    expect(provider.teardowns).toBe(1);
    await moduleRef.close();
  });

  it('refuses bad options when the class is defined', () => {
    const define = () => {
      class Bad {
        @Timeout({ ms: 100, firstItemMs: 200 })
        async call(): Promise<void> {}
      }
      return Bad;
    };
    expect(define).toThrow(InvalidOptionsError);
    expect(define).toThrow('timeout.firstItemMs should be <= ms (100), got 200');
    const infinite = () => {
      class Forever {
        @Timeout(Infinity)
        async call(): Promise<void> {}
      }
      return Forever;
    };
    expect(infinite).toThrow('timeout.ms');
  });
});

describe('@Fallback', () => {
  it('answers a timeout, then an open circuit, with another method of the class', async () => {
    const { moduleRef, provider, orchestrator } = await start();
    await expect(provider.primary('x')).resolves.toBe('second model answers x after TimeoutError');
    expect(await orchestrator.circuit('primary').state()).toBe('open');
    await expect(provider.primary('y')).resolves.toBe(
      'second model answers y after CircuitOpenError',
    );
    expect(provider.calls).toBe(1);
    await moduleRef.close();
  });

  it('answers with a function given the error and the arguments', async () => {
    const { moduleRef, provider } = await start();
    await expect(provider.byFunction('z')).resolves.toBe('fn:z:true');
    await moduleRef.close();
  });

  it('continues a stream that failed after its first items: one uninterrupted stream', async () => {
    const { moduleRef, provider } = await start();
    const items: string[] = [];
    for await (const item of provider.tokens()) items.push(item);
    expect(items).toEqual(['one', 'two', '(continued after 2)', 'three']);
    await moduleRef.close();
  });

  it('fails when the class is defined for a missing method or the method itself', () => {
    const missing = () => {
      class Misspelt {
        @Fallback('secondModle')
        async call(): Promise<string> {
          return '';
        }
        async secondModel(): Promise<string> {
          return '';
        }
      }
      return Misspelt;
    };
    expect(missing).toThrow(
      '@Fallback("secondModle") on Misspelt.call names no method of the class (methods: call, secondModel)',
    );
    const itself = () => {
      class Loop {
        @Fallback('call')
        async call(): Promise<string> {
          return '';
        }
      }
      return Loop;
    };
    expect(itself).toThrow('names the method itself');
  });
});
