import 'reflect-metadata';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Injectable, Logger, Module, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  CircuitBreaker,
  CircuitBreakerStore,
  Dedupe,
  InMemoryCircuitBreakerStore,
  InvalidOptionsError,
  Orchestrator,
  OrchestratorModule,
  Retry,
  type OrchestratorModuleOptions,
  type OrchestratorOptionsFactory,
} from '../lib/index.js';

@Injectable()
class Llm {
  calls = 0;

  @CircuitBreaker('openai')
  @Retry('openai')
  async complete(prompt: string): Promise<string> {
    this.calls++;
    if (prompt === 'fail') throw new Error('provider down');
    return `answer to ${prompt}`;
  }
}

const policies = {
  openai: {
    circuitBreaker: { name: 'openai', threshold: 2, recoveryWindowMs: 60_000 },
    retry: { maxAttempts: 1 },
  },
};

const apps: INestApplication[] = [];
async function start(imports: any[], providers: any[] = [Llm]): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({ imports, providers }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  apps.push(app);
  await app.init();
  return app;
}

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
  jest.restoreAllMocks();
});

describe('OrchestratorModule configuration', () => {
  it('applies named policies from forRoot', async () => {
    const app = await start([OrchestratorModule.forRoot({ policies })]);
    const llm = app.get(Llm);
    await expect(llm.complete('hi')).resolves.toBe('answer to hi');
    await llm.complete('fail').catch(() => undefined);
    await llm.complete('fail').catch(() => undefined);
    expect(await app.get(Orchestrator).circuit('openai').state()).toBe('open');
    expect(llm.calls).toBe(3); // maxAttempts 1: no retries
  });

  it('takes options from forRootAsync with useFactory and inject', async () => {
    @Module({ providers: [{ provide: 'THRESHOLD', useValue: 1 }], exports: ['THRESHOLD'] })
    class ConfigModule {}
    const app = await start([
      OrchestratorModule.forRootAsync({
        imports: [ConfigModule],
        inject: ['THRESHOLD'],
        useFactory: async (threshold: number) => ({
          policies: {
            openai: { ...policies.openai, circuitBreaker: { name: 'openai', threshold } },
          },
        }),
      }),
    ]);
    await app
      .get(Llm)
      .complete('fail')
      .catch(() => undefined);
    expect(await app.get(Orchestrator).circuit('openai').state()).toBe('open');
  });

  it('takes options from forRootAsync with useClass', async () => {
    class Factory implements OrchestratorOptionsFactory {
      createOrchestratorOptions(): OrchestratorModuleOptions {
        return { policies };
      }
    }
    const app = await start([OrchestratorModule.forRootAsync({ useClass: Factory })]);
    await expect(app.get(Llm).complete('x')).resolves.toBe('answer to x');
  });

  it('takes options from forRootAsync with useExisting', async () => {
    @Injectable()
    class Factory implements OrchestratorOptionsFactory {
      createOrchestratorOptions() {
        return { policies };
      }
    }
    @Module({ providers: [Factory], exports: [Factory] })
    class FactoryModule {}
    const app = await start([
      OrchestratorModule.forRootAsync({ imports: [FactoryModule], useExisting: Factory }),
    ]);
    await expect(app.get(Llm).complete('y')).resolves.toBe('answer to y');
  });

  it('refuses forRootAsync without a factory', () => {
    expect(() => OrchestratorModule.forRootAsync({})).toThrow(
      'OrchestratorModule.forRootAsync needs one of useFactory, useClass or useExisting',
    );
  });
});

describe('OrchestratorModule validation at bootstrap', () => {
  const invalid: Array<[string, OrchestratorModuleOptions, string]> = [
    [
      'threshold 0',
      { policies: { openai: { circuitBreaker: { threshold: 0 } } } },
      'policy "openai": circuitBreaker.threshold should be an integer >= 1, got 0',
    ],
    [
      'fractional halfOpenMaxCalls',
      { policies: { p: { circuitBreaker: { halfOpenMaxCalls: 1.5 } } } },
      'policy "p": circuitBreaker.halfOpenMaxCalls should be an integer >= 1, got 1.5',
    ],
    [
      'negative recovery window',
      { policies: { p: { circuitBreaker: { recoveryWindowMs: -1 } } } },
      'policy "p": circuitBreaker.recoveryWindowMs should be a number >= 0, got -1',
    ],
    [
      'maxAttempts 0',
      { policies: { p: { retry: { maxAttempts: 0 } } } },
      'policy "p": retry.maxAttempts should be an integer >= 1, got 0',
    ],
    [
      'baseDelayMs 0',
      { policies: { p: { retry: { baseDelayMs: 0 } } } },
      'policy "p": retry.baseDelayMs should be a number >= 1, got 0',
    ],
    [
      'maxDelayMs below baseDelayMs',
      { policies: { p: { retry: { baseDelayMs: 500, maxDelayMs: 100 } } } },
      'policy "p": retry.maxDelayMs should be >= baseDelayMs (500), got 100',
    ],
    [
      'unknown jitter',
      { policies: { p: { retry: { jitter: 'lots' as any } } } },
      'policy "p": retry.jitter should be one of "none", "full", "equal", "decorrelated", got "lots"',
    ],
    [
      'retryOn not a function',
      { policies: { p: { retry: { retryOn: true as any } } } },
      'policy "p": retry.retryOn should be a function, got true',
    ],
    [
      'unknown section',
      { policies: { p: { timout: {} } as any } },
      'policy "p": timout is not a policy section; did you mean timeout?',
    ],
  ];

  it.each(invalid)('fails on %s (forRoot)', async (_name, options, message) => {
    const failure = start([OrchestratorModule.forRoot(options)], []);
    await expect(failure).rejects.toBeInstanceOf(InvalidOptionsError);
    await expect(failure).rejects.toThrow(message);
  });

  it.each(invalid)('fails on %s (forRootAsync)', async (_name, options, message) => {
    const failure = start(
      [OrchestratorModule.forRootAsync({ useFactory: async () => options })],
      [],
    );
    await expect(failure).rejects.toThrow(message);
  });

  it('fails when a decorator names a policy the module does not define', async () => {
    const failure = start([OrchestratorModule.forRoot({ policies: { anthropic: {} } })]);
    await expect(failure).rejects.toBeInstanceOf(InvalidOptionsError);
    await expect(failure).rejects.toThrow(
      '@CircuitBreaker("openai") on Llm.complete names policy "openai", which OrchestratorModule.forRoot({ policies }) does not define (known policies: "anthropic")',
    );
  });

  it('fails when the named policy lacks the section the decorator needs', async () => {
    const failure = start([
      OrchestratorModule.forRoot({ policies: { openai: { circuitBreaker: {} } } }),
    ]);
    await expect(failure).rejects.toThrow(
      '@Retry("openai") on Llm.complete names policy "openai", which has no "retry" section (known policies: "openai")',
    );
  });

  it('fails when a decorator gets bad inline options, as soon as the class is defined', () => {
    expect(() => {
      class Bad {
        @Retry({ maxAttempts: -1 })
        async go() {}
      }
      return Bad;
    }).toThrow('@Retry on Bad.go: retry.maxAttempts should be an integer >= 1, got -1');
  });
});

describe('OrchestratorModule stores', () => {
  class CountingStore extends InMemoryCircuitBreakerStore {
    admits = 0;
    override admit(...args: Parameters<InMemoryCircuitBreakerStore['admit']>) {
      this.admits++;
      return super.admit(...args);
    }
  }

  it('uses a store given to forRoot', async () => {
    const store = new CountingStore();
    const app = await start([
      OrchestratorModule.forRoot({ policies, stores: { circuitBreaker: store } }),
    ]);
    await app.get(Llm).complete('a');
    expect(store.admits).toBe(1);
    expect(app.get(CircuitBreakerStore)).toBe(store);
  });

  it('uses a store given through overrideProvider', async () => {
    const store = new CountingStore();
    const moduleRef = await Test.createTestingModule({
      imports: [OrchestratorModule.forRoot({ policies })],
      providers: [Llm],
    })
      .overrideProvider(CircuitBreakerStore)
      .useValue(store)
      .compile();
    const app = moduleRef.createNestApplication({ logger: false });
    apps.push(app);
    await app.init();
    await app.get(Llm).complete('b');
    expect(store.admits).toBe(1);
  });

  it('rejects a store that is not one', async () => {
    const failure = start(
      [OrchestratorModule.forRoot({ stores: { circuitBreaker: {} as any } })],
      [],
    );
    await expect(failure).rejects.toThrow(
      'OrchestratorModule options: stores.circuitBreaker should be a store with admit, record, snapshot, force, got {}',
    );
  });

  it('rejects a store under a name that is not a store kind', async () => {
    const stores = { cache: new InMemoryCircuitBreakerStore() } as any;
    const failure = start([OrchestratorModule.forRoot({ stores })], []);
    await expect(failure).rejects.toThrow(
      'OrchestratorModule options: stores.cache is not a store kind; use one of backpressure, rateLimit, dedupe, circuitBreaker',
    );
  });

  it('logs once which store backs each primitive', async () => {
    const log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    await start([OrchestratorModule.forRoot({ policies })]);
    const lines = log.mock.calls
      .map((call) => String(call[0]))
      .filter((l) => l.startsWith('stores:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('circuitBreaker=InMemoryCircuitBreakerStore');
  });
});

describe('isolation and binding', () => {
  it('two applications in one process do not share circuit state', async () => {
    const first = await start([OrchestratorModule.forRoot({ policies })]);
    const second = await start([OrchestratorModule.forRoot({ policies })]);
    await first
      .get(Llm)
      .complete('fail')
      .catch(() => undefined);
    await first
      .get(Llm)
      .complete('fail')
      .catch(() => undefined);
    expect(await first.get(Orchestrator).circuit('openai').state()).toBe('open');
    expect(await second.get(Orchestrator).circuit('openai').state()).toBe('closed');
    await expect(second.get(Llm).complete('ok')).resolves.toBe('answer to ok');
  });

  it("keeps a named policy's circuit under the policy's name, shared by every method naming it", async () => {
    @Injectable()
    class TwoMethods {
      @CircuitBreaker('p')
      async a(): Promise<never> {
        throw new Error('a');
      }
      @CircuitBreaker('p')
      async b(): Promise<string> {
        return 'b';
      }
    }
    const app = await start(
      [OrchestratorModule.forRoot({ policies: { p: { circuitBreaker: { threshold: 1 } } } })],
      [TwoMethods],
    );
    await app
      .get(TwoMethods)
      .a()
      .catch(() => undefined);
    const orchestrator = app.get(Orchestrator);
    expect(await orchestrator.circuit('p').state()).toBe('open');
    await expect(app.get(TwoMethods).b()).rejects.toMatchObject({ name: 'CircuitOpenError' });
    expect(orchestrator.circuits()).toEqual(['p']);
  });

  it('keeps dedupe results of a named policy per method unless the section names them', async () => {
    @Injectable()
    class TwoReaders {
      calls = 0;
      @Dedupe('cached')
      async a(key: string): Promise<string> {
        this.calls++;
        return `a:${key}`;
      }
      @Dedupe('cached')
      async b(key: string): Promise<string> {
        this.calls++;
        return `b:${key}`;
      }
    }
    const app = await start(
      [OrchestratorModule.forRoot({ policies: { cached: { dedupe: { ttlMs: 60_000 } } } })],
      [TwoReaders],
    );
    const readers = app.get(TwoReaders);
    await expect(readers.a('x')).resolves.toBe('a:x');
    await expect(readers.b('x')).resolves.toBe('b:x');
    await expect(readers.a('x')).resolves.toBe('a:x');
    expect(readers.calls).toBe(2);
    expect(await app.get(Orchestrator).dedupe('TwoReaders.a').size()).toBe(1);
  });

  it('lists the circuits the application uses; an unused name reads closed', async () => {
    const app = await start([OrchestratorModule.forRoot({ policies })]);
    const orchestrator = app.get(Orchestrator);
    expect(orchestrator.circuits()).toEqual(['openai']);
    expect(await orchestrator.circuit('nobody').state()).toBe('closed');
    expect(await orchestrator.circuit('nobody').failureCount()).toBe(0);
  });

  it('opens and closes a circuit by hand through the Orchestrator service', async () => {
    const app = await start([OrchestratorModule.forRoot({ policies })]);
    const circuit = app.get(Orchestrator).circuit('openai');
    await circuit.open();
    await expect(app.get(Llm).complete('x')).rejects.toMatchObject({ name: 'CircuitOpenError' });
    await circuit.close();
    await expect(app.get(Llm).complete('x')).resolves.toBe('answer to x');
  });

  it('looking a circuit up neither registers it nor fixes its options', async () => {
    @Injectable()
    class LateUser {
      @CircuitBreaker({ name: 'late', threshold: 1 })
      async go(): Promise<never> {
        throw new Error('x');
      }
    }
    const moduleRef = await Test.createTestingModule({
      imports: [OrchestratorModule.forRoot()],
      providers: [LateUser],
    }).compile();
    const early = moduleRef.get(Orchestrator).circuit('late'); // before the explorer binds
    expect(await early.state()).toBe('closed');
    const app = moduleRef.createNestApplication({ logger: false });
    apps.push(app);
    await app.init(); // would fail with "configured twice" if the lookup had registered defaults
    const orchestrator = app.get(Orchestrator);
    await orchestrator.circuit('unused').state();
    expect(orchestrator.circuits()).toEqual(['late']);
    await app
      .get(LateUser)
      .go()
      .catch(() => undefined);
    expect(await early.state()).toBe('open'); // threshold 1, from the decorator
  });

  it('a class created with new works with inline options on private state', async () => {
    class Plain {
      calls = 0;
      @CircuitBreaker({ threshold: 1 })
      async go(): Promise<never> {
        this.calls++;
        throw new Error('x');
      }
    }
    const a = new Plain();
    const b = new Plain();
    await expect(a.go()).rejects.toThrow('x');
    await expect(a.go()).rejects.toMatchObject({ name: 'CircuitOpenError' });
    await expect(b.go()).rejects.toThrow('x'); // b has its own circuit
    expect([a.calls, b.calls]).toEqual([1, 1]);
  });

  it('a class created with new that names a policy fails with a clear error', async () => {
    await expect(new Llm().complete('x')).rejects.toThrow(
      '@CircuitBreaker("openai") on Llm.complete names a policy, but this instance was not created by a Nest application',
    );
  });

  it('a static method is protected and named after its class, not "Function"', async () => {
    class Tools {
      static calls = 0;
      @CircuitBreaker({ threshold: 1 })
      static async fetch(): Promise<never> {
        Tools.calls++;
        throw new Error('down');
      }
    }
    await expect(Tools.fetch()).rejects.toThrow('down');
    await expect(Tools.fetch()).rejects.toMatchObject({ name: 'CircuitOpenError' });
    expect(Tools.calls).toBe(1);
    expect(() => {
      class Broken {
        @Retry({ maxAttempts: 0 })
        static async fetch() {}
      }
      return Broken;
    }).toThrow('@Retry on Broken.fetch');
  });

  it('keeps the method name', () => {
    expect(Llm.prototype.complete.name).toBe('complete');
  });

  it('warns at start-up about protected methods on request-scoped providers', async () => {
    const { Scope } = await import('@nestjs/common');
    @Injectable({ scope: Scope.REQUEST })
    class PerRequest {
      @Retry({ maxAttempts: 2 })
      async go() {}
    }
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    await start([OrchestratorModule.forRoot()], [PerRequest]);
    const messages = warn.mock.calls.map((call) => String(call[0]));
    expect(messages.some((m) => m.includes('PerRequest.go is on a request-scoped provider'))).toBe(
      true,
    );
  });
});

describe('one name shared by several methods', () => {
  it('shares a dedupe cache, each method deriving the key from its own arguments', async () => {
    @Injectable()
    class Prompts {
      executions = 0;
      @Dedupe({ name: 'answers', ttlMs: 60_000, key: (prompt: string) => prompt })
      async complete(prompt: string) {
        return `${prompt}:${++this.executions}`;
      }
      @Dedupe({ name: 'answers', ttlMs: 60_000, key: (m: { prompt: string }) => m.prompt })
      async chat(message: { prompt: string; user: string }) {
        return `${message.prompt}:${++this.executions}`;
      }
      @Dedupe({ name: 'answers', ttlMs: 60_000 }) // no key: the hash of its own arguments
      async hashed(prompt: string) {
        return `${prompt}:${++this.executions}`;
      }
    }
    const app = await start([OrchestratorModule.forRoot()], [Prompts]);
    const prompts = app.get(Prompts);

    expect(await prompts.complete('hi')).toBe('hi:1');
    expect(await prompts.chat({ prompt: 'hi', user: 'ann' })).toBe('hi:1');
    expect(await prompts.hashed('hi')).toBe('hi:2');
    expect(prompts.executions).toBe(2);
  });

  it('fails at start-up when a second user leaves a setting the first one set to its default', async () => {
    @Injectable()
    class Users {
      @CircuitBreaker({ name: 'shared', recoveryWindowMs: 1_000 })
      async a() {}
      @CircuitBreaker({ name: 'shared' })
      async b() {}
    }
    await expect(start([OrchestratorModule.forRoot()], [Users])).rejects.toThrow(
      '"shared" is configured twice with different options (recoveryWindowMs: 1000 vs 30000)',
    );
  });

  it('fails at start-up on two different isFailure functions for one circuit', async () => {
    @Injectable()
    class Users {
      @CircuitBreaker({ name: 'shared', isFailure: () => true })
      async a() {}
      @CircuitBreaker({ name: 'shared', isFailure: () => false })
      async b() {}
    }
    await expect(start([OrchestratorModule.forRoot()], [Users])).rejects.toThrow(
      'two different isFailure functions',
    );
  });

  it('accepts one named policy used by several methods, functions included', async () => {
    @Injectable()
    class Users {
      @CircuitBreaker('shared')
      async a() {
        throw new Error('counted');
      }
      @CircuitBreaker('shared')
      async b() {}
    }
    const shared = { circuitBreaker: { name: 'shared', threshold: 1, isFailure: () => true } };
    const app = await start([OrchestratorModule.forRoot({ policies: { shared } })], [Users]);
    await expect(app.get(Users).a()).rejects.toThrow('counted');
    await expect(app.get(Users).b()).rejects.toMatchObject({ name: 'CircuitOpenError' });
  });
});
