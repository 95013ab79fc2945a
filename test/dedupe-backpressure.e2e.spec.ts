import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Controller, Get, Injectable, type INestApplication } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import type { Subscription } from 'rxjs';
import {
  Backpressure,
  CircuitBreaker,
  Dedupe,
  DedupeStore,
  InMemoryDedupeStore,
  InvalidOptionsError,
  Orchestrator,
  OrchestratorExceptionFilter,
  OrchestratorModule,
  Retry,
  isBackpressureShedError,
  type OrchestratorEvent,
  type OrchestratorModuleOptions,
} from '../lib/index.js';
import { FakeClock } from './support/fake-clock.js';

/** Promises the test settles by hand, one per prompt. */
class Gates {
  private readonly gates = new Map<string, { promise: Promise<void>; open: () => void }>();

  wait(name: string): Promise<void> {
    return this.gate(name).promise;
  }

  open(name: string): void {
    this.gate(name).open();
  }

  private gate(name: string) {
    let gate = this.gates.get(name);
    if (gate === undefined) {
      let open!: () => void;
      const promise = new Promise<void>((resolve) => (open = resolve));
      gate = { promise, open };
      this.gates.set(name, gate);
    }
    return gate;
  }
}

@Injectable()
class LlmService {
  readonly gates = new Gates();
  readonly executions: string[] = [];
  failFirstAttemptOf = new Set<string>();

  @Backpressure({ name: 'llm', capacity: 2 })
  @Dedupe({ name: 'llm', ttlMs: 60_000, key: (prompt: string) => prompt })
  @CircuitBreaker({ name: 'llm', threshold: 1 })
  @Retry({ maxAttempts: 2, baseDelayMs: 1, jitter: 'none' })
  async complete(prompt: string): Promise<string> {
    this.executions.push(prompt);
    if (this.failFirstAttemptOf.delete(prompt)) throw new Error('transient');
    await this.gates.wait(prompt);
    return `answer to ${prompt}`;
  }
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

async function start(options: OrchestratorModuleOptions = {}, providers: any[] = [LlmService]) {
  const moduleRef = await Test.createTestingModule({
    imports: [OrchestratorModule.forRoot(options)],
    providers,
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

describe('@Backpressure @Dedupe @CircuitBreaker @Retry on one method, in a Nest app', () => {
  let app: INestApplication | undefined;
  let subscription: Subscription | undefined;

  afterEach(async () => {
    subscription?.unsubscribe();
    await app?.close();
    app = undefined;
  });

  async function setup() {
    app = await start();
    const orchestrator = app.get(Orchestrator);
    const events: OrchestratorEvent[] = [];
    subscription = orchestrator.events$.subscribe((e) => events.push(e));
    return { llm: app.get(LlmService), orchestrator, events };
  }

  it('sheds past capacity before the breaker, and lets dedupe hits through without a slot', async () => {
    const { llm, orchestrator, events } = await setup();
    const bp = orchestrator.backpressure('llm');
    const a = llm.complete('a');
    const b = llm.complete('b');
    expect(await bp.depth()).toBe(2);

    // Identical calls join the running execution: no slot, no shed.
    const joined = Array.from({ length: 5 }, () => llm.complete('a'));
    // A new prompt finds both slots taken: shed, five times over.
    for (let i = 0; i < 5; i++) {
      await expect(llm.complete('c')).rejects.toMatchObject({
        name: 'BackpressureShedError',
        guard: 'llm',
        depth: 2,
        capacity: 2,
      });
    }
    // With threshold 1, one shed counted by the breaker would have opened it.
    expect(await orchestrator.circuit('llm').state()).toBe('closed');
    expect(await orchestrator.circuit('llm').failureCount()).toBe(0);
    expect(events.some((e) => e.type.startsWith('circuit.'))).toBe(false);
    expect(events.filter((e) => e.type === 'backpressure.shed')).toHaveLength(5);
    expect(events.filter((e) => e.type === 'dedupe.hit')).toHaveLength(5);

    llm.gates.open('a');
    llm.gates.open('b');
    expect(await Promise.all([a, b, ...joined])).toEqual([
      'answer to a',
      'answer to b',
      ...Array(5).fill('answer to a'),
    ]);
    expect(llm.executions).toEqual(['a', 'b']);
    expect(await bp.depth()).toBe(0);
  });

  it('serves a cached result while every slot is taken, and runs again after forget()', async () => {
    const { llm, orchestrator } = await setup();
    llm.gates.open('cached');
    await llm.complete('cached');
    const x = llm.complete('x');
    const y = llm.complete('y');
    expect(await orchestrator.backpressure('llm').depth()).toBe(2);
    expect(await llm.complete('cached')).toBe('answer to cached'); // a cache hit takes no slot
    llm.gates.open('x');
    llm.gates.open('y');
    await Promise.all([x, y]);
    expect(await orchestrator.dedupe('llm').size()).toBe(3);
    await orchestrator.dedupe('llm').forget('cached');
    await llm.complete('cached');
    expect(llm.executions.filter((p) => p === 'cached')).toHaveLength(2);
  });

  it('retries inside one slot and one dedupe execution: joiners get the retried result', async () => {
    const { llm, orchestrator } = await setup();
    llm.failFirstAttemptOf.add('flaky');
    const calls = [llm.complete('flaky'), llm.complete('flaky'), llm.complete('flaky')];
    await flush();
    expect(await orchestrator.backpressure('llm').depth()).toBe(1);
    llm.gates.open('flaky');
    expect(await Promise.all(calls)).toEqual(Array(3).fill('answer to flaky'));
    expect(llm.executions).toEqual(['flaky', 'flaky']); // one failed attempt, one retry
  });

  it('exposes backpressure(name) and dedupe(name) on the Orchestrator service', async () => {
    const { orchestrator } = await setup();
    const bp = orchestrator.backpressure('llm');
    expect(bp.hardCapacity()).toBe(2);
    expect(await bp.softDepthRatio()).toBe(0);
    expect(() => orchestrator.backpressure('nope')).toThrow(InvalidOptionsError);
    expect(() => orchestrator.backpressure('nope')).toThrow(
      'Orchestrator.backpressure("nope") names no backpressure guard of this application (known: "llm")',
    );
    await expect(orchestrator.dedupe('nope').forget('k')).resolves.toBeUndefined();
    expect(await orchestrator.dedupe('nope').size()).toBe(0);
  });
});

describe('Dedupe and backpressure options and stores in OrchestratorModule', () => {
  it('fails the bootstrap for a bad backpressure or dedupe section of a policy', async () => {
    await expect(
      start({ policies: { bad: { backpressure: { capacity: 0 } } } }, []),
    ).rejects.toThrow('policy "bad": backpressure.capacity should be an integer >= 1, got 0');
    await expect(start({ policies: { bad: { dedupe: { ttlMs: -5 } } } }, [])).rejects.toThrow(
      'policy "bad": dedupe.ttlMs should be a number >= 0, got -5',
    );
  });

  it('fails the bootstrap for a dedupe or backpressure store that lacks the contract methods', async () => {
    await expect(start({ stores: { dedupe: {} as DedupeStore } }, [])).rejects.toThrow(
      'stores.dedupe should be a store with claim, complete, fail, renew, forget, size',
    );
    await expect(
      start({ stores: { backpressure: { acquire() {} } as never } }, []),
    ).rejects.toThrow('stores.backpressure should be a store with acquire, release, renew, depth');
  });

  it('uses named policies and the module clock (TTL expiry with a fake clock)', async () => {
    @Injectable()
    class Named {
      runs = 0;
      @Backpressure('llm')
      @Dedupe('llm')
      async ask(prompt: string): Promise<string> {
        this.runs++;
        return prompt;
      }
    }
    const clock = new FakeClock();
    const app = await start(
      {
        clock,
        policies: {
          llm: { backpressure: { name: 'llm', capacity: 1 }, dedupe: { ttlMs: 1_000 } },
        },
      },
      [Named],
    );
    try {
      const named = app.get(Named);
      await named.ask('p');
      clock.advance(999);
      await named.ask('p');
      expect(named.runs).toBe(1);
      clock.advance(1);
      await named.ask('p');
      expect(named.runs).toBe(2);
      expect(app.get(Orchestrator).backpressure('llm').hardCapacity()).toBe(1);
    } finally {
      await app.close();
    }
  });

  it('shares dedupe state between two applications only through a shared store', async () => {
    const shared = new InMemoryDedupeStore();
    const options = { stores: { dedupe: shared } };
    const one = await start(options);
    const two = await start(options);
    const three = await start();
    try {
      const [a, b, c] = [one, two, three].map((app) => app.get(LlmService));
      a.gates.open('p');
      b.gates.open('p');
      c.gates.open('p');
      await a.complete('p');
      expect(await b.complete('p')).toBe('answer to p');
      expect(b.executions).toEqual([]); // served from the shared store's cache
      await c.complete('p');
      expect(c.executions).toEqual(['p']);
    } finally {
      await Promise.all([one.close(), two.close(), three.close()]);
    }
  });
});

describe('BackpressureShedError over HTTP', () => {
  it('answers 429 with Retry-After through OrchestratorExceptionFilter', async () => {
    const gates = new Gates();

    @Controller('chat')
    class ChatController {
      @Get()
      @Backpressure({ capacity: 1 })
      async chat(): Promise<{ answer: string }> {
        await gates.wait('chat');
        return { answer: 'ok' };
      }
    }

    const moduleRef = await Test.createTestingModule({
      imports: [OrchestratorModule.forRoot()],
      controllers: [ChatController],
      providers: [{ provide: APP_FILTER, useClass: OrchestratorExceptionFilter }],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    try {
      const url = `${await app.getUrl()}/chat`;
      const guard = app.get(Orchestrator).backpressure('ChatController.chat');
      const first = fetch(url);
      // Real HTTP: give the request up to 5 s to reach the handler on a busy machine.
      for (let i = 0; i < 1000 && (await guard.depth()) === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(await guard.depth()).toBe(1);

      const shed = await fetch(url);
      expect(shed.status).toBe(429);
      expect(shed.headers.get('retry-after')).toBe('1');
      expect(await shed.json()).toMatchObject({
        statusCode: 429,
        error: 'BackpressureShedError',
        retryAfter: 1,
      });

      gates.open('chat');
      const ok = await first;
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ answer: 'ok' });
    } finally {
      gates.open('chat'); // a failed assertion must not leave the request, and close(), hanging
      await app.close();
    }
  });

  it('recognises the error across copies of the package by its code', () => {
    const foreign = Object.assign(new Error('x'), {
      code: 'BACKPRESSURE_SHED',
      [Symbol.for('nestjs-orchestrator.error')]: true,
    });
    expect(isBackpressureShedError(foreign)).toBe(true);
    expect(isBackpressureShedError(new Error('x'))).toBe(false);
  });
});

describe('a stream and a single result under one dedupe name', () => {
  it('keeps them apart: the stream neither joins the promise execution nor skips its slot', async () => {
    const gates = new Gates();
    class Mixed {
      runs = 0;
      @Backpressure({ name: 'shared-cap', capacity: 1 })
      @Dedupe({ name: 'shared-dedupe' })
      async answer(prompt: string): Promise<string> {
        this.runs++;
        await gates.wait(prompt);
        return `answer:${prompt}`;
      }

      @Backpressure({ name: 'shared-cap', capacity: 1 })
      @Dedupe({ name: 'shared-dedupe' })
      async *tokens(prompt: string): AsyncGenerator<string> {
        this.runs++;
        yield `token:${prompt}`;
      }
    }
    const mixed = new Mixed();
    const pending = mixed.answer('p'); // holds the only slot
    const streamed = (async () => {
      const items: string[] = [];
      for await (const item of mixed.tokens('p')) items.push(item);
      return items;
    })();
    // Same name and arguments, other return kind: a new execution, so it needs the slot.
    await expect(streamed).rejects.toMatchObject({ name: 'BackpressureShedError' });
    gates.open('p');
    await expect(pending).resolves.toBe('answer:p');
    expect(mixed.runs).toBe(1);
  });
});
