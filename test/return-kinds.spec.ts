import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Observable, firstValueFrom, toArray, lastValueFrom, of } from 'rxjs';
import {
  CircuitBreaker,
  InvalidOptionsError,
  isCircuitOpenError,
  Orchestrator,
  OrchestratorModule,
  Retry,
} from '../lib/index.js';
import { FakeClock } from './support/fake-clock.js';

const noDelay = { baseDelayMs: 1, jitter: 'none' } as const;

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

describe('stacking order is composition order', () => {
  class BreakerOutside {
    calls = 0;
    @CircuitBreaker({ threshold: 1 })
    @Retry({ maxAttempts: 3, ...noDelay })
    async call(): Promise<never> {
      this.calls++;
      throw new Error('down');
    }
  }

  class RetryOutside {
    calls = 0;
    @Retry({ maxAttempts: 3, ...noDelay })
    @CircuitBreaker({ threshold: 1 })
    async call(): Promise<never> {
      this.calls++;
      throw new Error('down');
    }
  }

  it('breaker outside retry: every attempt runs, the breaker sees one failure', async () => {
    const service = new BreakerOutside();
    await expect(service.call()).rejects.toThrow('down');
    expect(service.calls).toBe(3);
  });

  it('retry outside breaker: the first failure opens it and the open circuit is not retried', async () => {
    const service = new RetryOutside();
    const error = await service.call().catch((e) => e);
    expect(isCircuitOpenError(error)).toBe(true);
    expect(service.calls).toBe(1);
  });
});

describe('Promise methods', () => {
  it('turns a synchronous value into a Promise', async () => {
    class Sync {
      @Retry()
      value(): unknown {
        return 7;
      }
    }
    const result = new Sync().value() as unknown;
    expect(result).toBeInstanceOf(Promise);
    await expect(result).resolves.toBe(7);
  });

  it('hands a stream returned by a plain method back as one value, as API.md says', async () => {
    async function* tokens() {
      yield 'a';
    }
    class Undeclared {
      calls = 0;
      @Retry({ maxAttempts: 3, ...noDelay })
      stream(): AsyncIterable<string> {
        this.calls++;
        return tokens();
      }
    }
    const undeclared = new Undeclared();
    const result = undeclared.stream() as unknown;
    expect(result).toBeInstanceOf(Promise);
    const items: string[] = [];
    for await (const item of (await result) as AsyncIterable<string>) items.push(item);
    expect(items).toEqual(['a']);
    expect(undeclared.calls).toBe(1);
  });

  it('turns a synchronous throw into a rejection that is retried', async () => {
    class SyncThrow {
      calls = 0;
      @Retry({ maxAttempts: 2, ...noDelay })
      value(): unknown {
        if (++this.calls === 1) throw new Error('first');
        return this.calls;
      }
    }
    await expect(new SyncThrow().value()).resolves.toBe(2);
  });

  it('refuses a method declared `: number`, `: string` or `: boolean` when the class is defined', () => {
    const defineNumber = () => {
      class Numbers {
        @Retry() value(): number {
          return 1;
        }
      }
      return Numbers;
    };
    const defineString = () => {
      class Strings {
        @Retry() value(): string {
          return '';
        }
      }
      return Strings;
    };
    const defineBoolean = () => {
      class Booleans {
        @Retry() value(): boolean {
          return true;
        }
      }
      return Booleans;
    };
    expect(defineNumber).toThrow(InvalidOptionsError);
    expect(defineNumber).toThrow(
      'Numbers.value declares the return type number, but a guarded method returns a Promise; declare Promise<number> or make the method async',
    );
    expect(defineString).toThrow('declare Promise<string>');
    expect(defineBoolean).toThrow('declare Promise<boolean>');
  });

  it('fails the call of a plain method that returns an Observable it did not declare', async () => {
    class Undeclared {
      calls = 0;
      @Retry({ maxAttempts: 3, ...noDelay })
      feed(): unknown {
        this.calls++;
        return of(1, 2);
      }
    }
    const instance = new Undeclared();
    const failure = instance.feed() as Promise<unknown>;
    await expect(failure).rejects.toThrow(InvalidOptionsError);
    await expect(failure).rejects.toThrow('declare the return type `: Observable<T>`');
    expect(instance.calls).toBe(1); // the library's own refusal is not retried
  });
});

describe('Observable methods', () => {
  class Feed {
    subscriptions = 0;
    failFirst = 1;
    @CircuitBreaker({ threshold: 2 })
    @Retry({ maxAttempts: 3, ...noDelay })
    tokens(): Observable<string> {
      return new Observable<string>((subscriber) => {
        this.subscriptions++;
        if (this.failFirst-- > 0) return subscriber.error(new Error('connect failed'));
        subscriber.next('a');
        subscriber.next('b');
        subscriber.complete();
      });
    }

    @CircuitBreaker({ threshold: 1 })
    broken(): Observable<string> {
      return new Observable<string>((subscriber) => subscriber.error(new Error('broken')));
    }
  }

  it('stays a cold Observable: nothing runs before subscribe', async () => {
    const feed = new Feed();
    const tokens = feed.tokens();
    expect(tokens).toBeInstanceOf(Observable);
    expect(feed.subscriptions).toBe(0);
    expect(await lastValueFrom(tokens.pipe(toArray()))).toEqual(['a', 'b']);
  });

  it('retries by re-subscribing', async () => {
    const feed = new Feed();
    feed.failFirst = 2;
    expect(await lastValueFrom(feed.tokens().pipe(toArray()))).toEqual(['a', 'b']);
    expect(feed.subscriptions).toBe(3);
  });

  it('counts error as a breaker failure', async () => {
    const feed = new Feed();
    await expect(firstValueFrom(feed.broken())).rejects.toThrow('broken');
    const error = await firstValueFrom(feed.broken()).catch((e) => e);
    expect(isCircuitOpenError(error)).toBe(true);
  });

  it('each subscription runs the layers again', async () => {
    const feed = new Feed();
    feed.failFirst = 0;
    const tokens = feed.tokens();
    await lastValueFrom(tokens);
    await lastValueFrom(tokens);
    expect(feed.subscriptions).toBe(2);
  });
});

describe('AsyncIterable methods', () => {
  class Stream {
    starts = 0;
    failBeforeFirst = 0;
    failAfterFirst = false;

    @CircuitBreaker({ threshold: 1 })
    @Retry({ maxAttempts: 3, ...noDelay })
    async *tokens(): AsyncGenerator<string> {
      this.starts++;
      if (this.failBeforeFirst-- > 0) throw new Error('before first');
      yield 'a';
      if (this.failAfterFirst) throw new Error('mid-stream');
      yield 'b';
      yield 'c';
    }
  }

  it('stays an AsyncIterable and starts only when iterated', async () => {
    const stream = new Stream();
    const tokens = stream.tokens();
    expect(typeof tokens[Symbol.asyncIterator]).toBe('function');
    expect(tokens).not.toBeInstanceOf(Promise);
    expect(stream.starts).toBe(0);
    expect(await collect(tokens)).toEqual(['a', 'b', 'c']);
  });

  it('retries a failure before the first item', async () => {
    const stream = new Stream();
    stream.failBeforeFirst = 2;
    expect(await collect(stream.tokens())).toEqual(['a', 'b', 'c']);
    expect(stream.starts).toBe(3);
  });

  it('does not retry after the first item, and counts the error as a breaker failure', async () => {
    const stream = new Stream();
    stream.failAfterFirst = true;
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const token of stream.tokens()) seen.push(token);
      })(),
    ).rejects.toThrow('mid-stream');
    expect(seen).toEqual(['a']);
    expect(stream.starts).toBe(1);
    const error = await collect(stream.tokens()).catch((e) => e);
    expect(isCircuitOpenError(error)).toBe(true);
  });

  it('a consumer that stops early is neither success nor failure, and frees its probe slot', async () => {
    @Injectable()
    class Probe {
      @CircuitBreaker({ name: 'probe', threshold: 1, recoveryWindowMs: 1_000 })
      async *tokens(fail: boolean): AsyncGenerator<string> {
        if (fail) throw new Error('down');
        yield 'a';
        yield 'b';
      }
    }
    const clock = new FakeClock();
    const moduleRef = await Test.createTestingModule({
      imports: [OrchestratorModule.forRoot({ clock })],
      providers: [Probe],
    }).compile();
    const app = await moduleRef.createNestApplication({ logger: false }).init();
    const probe = app.get(Probe);
    const circuit = app.get(Orchestrator).circuit('probe');
    await collect(probe.tokens(true)).catch(() => undefined);
    clock.advance(1_000);
    for await (const token of probe.tokens(false)) {
      expect(token).toBe('a');
      break;
    }
    expect(await circuit.state()).toBe('half-open');
    expect(await circuit.failureCount()).toBe(1);
    // The abandoned probe freed its slot: another probe is admitted and closes the circuit.
    expect(await collect(probe.tokens(false))).toEqual(['a', 'b']);
    expect(await circuit.state()).toBe('closed');
    await app.close();
  });
});
