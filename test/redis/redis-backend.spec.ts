import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import {
  Backpressure,
  CircuitBreaker,
  Dedupe,
  isInvalidOptionsError,
  Orchestrator,
  OrchestratorModule,
} from '../../lib/index.js';
import {
  clientOptionWarnings,
  RedisBackend,
  RedisBackpressureStore,
  RedisCircuitBreakerStore,
  redisStores,
  type RedisStoreEvent,
} from '../../lib/redis/index.js';
import { startRedis, stopAllRedis, waitUntil } from '../support/redis/index.js';
import { SAFE_CLIENT, safeClient, testBackendOptions } from './helpers.js';

afterAll(() => stopAllRedis());

const unconnected: Redis[] = [];
function lazyClient(options: RedisOptions = {}): Redis {
  const client = new Redis({ lazyConnect: true, ...options });
  unconnected.push(client);
  return client;
}
afterAll(() => unconnected.forEach((client) => client.disconnect()));

async function connectedClients(admin: Redis): Promise<number> {
  return String(await admin.client('LIST'))
    .trim()
    .split('\n').length;
}

describe('client option checks', () => {
  it('names each missing setting of a standalone client', () => {
    const warnings = clientOptionWarnings(lazyClient());

    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toMatch(/^commandTimeout is not set/);
    expect(warnings[1]).toMatch(/^enableOfflineQueue is not false/);
    expect(warnings[2]).toMatch(/^maxRetriesPerRequest is 20/);
    expect(clientOptionWarnings(lazyClient(SAFE_CLIENT))).toEqual([]);
  });

  it('reads a Cluster client at the right level, and flags enableOfflineQueue inside redisOptions', () => {
    const nodes = [{ host: '127.0.0.1', port: 1 }];
    const misplaced = new Cluster(nodes, {
      lazyConnect: true,
      redisOptions: {
        commandTimeout: 250,
        maxRetriesPerRequest: 1,
        enableOfflineQueue: false,
      } as never,
    });
    const safe = new Cluster(nodes, {
      lazyConnect: true,
      enableOfflineQueue: false,
      redisOptions: { commandTimeout: 250, maxRetriesPerRequest: 1 },
    });

    expect(clientOptionWarnings(misplaced)).toEqual([
      expect.stringMatching(/^enableOfflineQueue \(top level of ClusterOptions\) is not false/),
      expect.stringMatching(/^redisOptions.enableOfflineQueue has no effect on a Cluster client/),
    ]);
    expect(clientOptionWarnings(safe)).toEqual([]);
    misplaced.disconnect();
    safe.disconnect();
  });

  it('warns at start-up: through the logger and as events', async () => {
    const server = await startRedis({ args: ['--maxmemory-policy', 'allkeys-lru'] });
    const events: RedisStoreEvent[] = [];
    const options = testBackendOptions({ onEvent: (e) => events.push(e) });

    const backend = new RedisBackend(server.client(), options);
    await waitUntil(() => options.warnings.some((w) => w.startsWith('maxmemory-policy')));

    expect(options.warnings).toEqual([
      expect.stringMatching(/^commandTimeout is not set/),
      expect.stringMatching(/^enableOfflineQueue is not false/),
      expect.stringMatching(/^maxmemory-policy is "allkeys-lru" on 127.0.0.1:\d+: .*noeviction/),
    ]);
    expect(events.map((e) => e.type)).toEqual(['redis.warning', 'redis.warning', 'redis.warning']);
    await backend.close();
  });

  it('stays quiet for a safe client on a noeviction server', async () => {
    const server = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
    const options = testBackendOptions();
    const backend = new RedisBackend(safeClient(server), options);
    await delay(100);

    expect(options.warnings).toEqual([]);
    await backend.close();
  });

  it('rejects a key prefix with braces: the stores place their own hash tags', () => {
    let error: unknown;
    try {
      new RedisBackend(lazyClient(SAFE_CLIENT), { keyPrefix: 'app{1}:' });
    } catch (e) {
      error = e;
    }
    expect(isInvalidOptionsError(error)).toBe(true);
  });
});

describe('bounded calls', () => {
  it('settles within operationTimeoutMs even when the client has no commandTimeout', async () => {
    const server = await startRedis();
    const client = server.client({ enableOfflineQueue: false });
    const store = new RedisCircuitBreakerStore(
      client,
      testBackendOptions({ operationTimeoutMs: 300, checkClient: false }),
    );
    const config = {
      threshold: 3,
      recoveryWindowMs: 1000,
      halfOpenMaxCalls: 1,
      probeLeaseMs: 1000,
    };
    await store.admit({ circuit: 'bounded', config });

    server.pause();
    const started = performance.now();
    const admission = await store.admit({ circuit: 'bounded', config });
    const elapsed = performance.now() - started;
    server.resume();

    expect(admission.admitted).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(300 + 150);
    await store.backend.close();
  });
});

describe('writes that end a lease', () => {
  it('replays a failed release at a bounded pace; an error about the data never degrades the backend', async () => {
    const server = await startRedis();
    const events: RedisStoreEvent[] = [];
    const options = testBackendOptions({ onEvent: (e) => events.push(e) });
    const backend = new RedisBackend(safeClient(server), options);
    const store = new RedisBackpressureStore(backend);
    const admin = server.client();
    // A key of the wrong type: Redis answers every release of that name with WRONGTYPE.
    await admin.set(backend.key('bp', 'wrong', 'h'), 'not a sorted set', 'PX', 60_000);
    const released = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => store.release({ name: 'wrong', token: `token-${i}` })),
    );

    // Plenty of successful calls meanwhile, each a chance to replay the queue.
    const started = performance.now();
    let calls = 0;
    while (performance.now() - started < 1_000) {
      await store.depth({ name: 'other' });
      calls++;
    }
    const elapsed = performance.now() - started;

    const errors = events.filter((e) => e.type === 'redis.error').length;
    expect(released.every((r) => r.status === 'rejected')).toBe(true);
    expect(calls).toBeGreaterThan(100);
    // The releases once, then one replay each per 250 ms at most (a flush per success before).
    expect(errors).toBeGreaterThan(20);
    expect(errors).toBeLessThanOrEqual(20 * (2 + Math.ceil(elapsed / 250)));
    expect(events.some((e) => e.type === 'redis.degraded')).toBe(false);
    expect(backend.degraded).toBe(false);
    await backend.close();
  });

  it('gives a queued release a last try when the stores close', async () => {
    const server = await startRedis();
    const backend = new RedisBackend(safeClient(server), testBackendOptions());
    const store = new RedisBackpressureStore(backend);
    const admin = server.client();
    const holders = backend.key('bp', 'closing', 'h');
    // The release fails (a key of the wrong type) and is queued for a replay 250 ms later...
    await admin.set(holders, 'not a sorted set', 'PX', 60_000);
    await expect(store.release({ name: 'closing', token: 'token-1' })).rejects.toThrow();
    // ...by when the slot is back as a live lease, and the stores close at once.
    await admin.del(holders);
    await admin.zadd(holders, Date.now() + 60_000, 'token-1');
    await admin.pexpire(holders, 60_000);

    await backend.close();

    expect(await admin.zcard(holders)).toBe(0);
  });
});

describe('client ownership', () => {
  it('closes a client it created; leaves a given client open; always closes its subscriber', async () => {
    const server = await startRedis();
    const admin = server.client();
    const given = safeClient(server);
    const config = {
      threshold: 3,
      recoveryWindowMs: 1000,
      halfOpenMaxCalls: 1,
      probeLeaseMs: 1000,
    };
    const created = new RedisCircuitBreakerStore(server.url, testBackendOptions());
    const borrowing = new RedisCircuitBreakerStore(given, testBackendOptions());
    await Promise.all([
      created.admit({ circuit: 'c', config }),
      borrowing.admit({ circuit: 'c', config }),
    ]);
    const before = await connectedClients(admin);

    await Promise.all([created.onApplicationShutdown(), borrowing.onApplicationShutdown()]);

    expect(created.backend.client.status).toBe('end');
    expect(given.status).toBe('ready');
    expect(await given.ping()).toBe('PONG');
    // The created client and both subscriber connections are gone.
    await waitUntil(async () => (await connectedClients(admin)) === before - 3, {
      what: 'connections closed',
    });
  });
});

@Injectable()
class Gateway {
  runs = 0;

  @Backpressure({ name: 'gw', capacity: 5 })
  @Dedupe({ name: 'gw', ttlMs: 60_000 })
  @CircuitBreaker({ name: 'gw', threshold: 2 })
  async complete(prompt: string): Promise<string> {
    this.runs++;
    await delay(20);
    return `answer to ${prompt}`;
  }
}

@Module({ providers: [Gateway] })
class GatewayModule {}

async function application(stores: ReturnType<typeof redisStores>) {
  const moduleRef = await Test.createTestingModule({
    imports: [OrchestratorModule.forRoot({ stores }), GatewayModule],
  }).compile();
  moduleRef.useLogger(false);
  return moduleRef.createNestApplication({ logger: false }).init();
}

describe('redisStores() with Nest', () => {
  it('backs the decorators of two applications with one shared state', async () => {
    const server = await startRedis();
    const first = await application(redisStores(safeClient(server), testBackendOptions()));
    const second = await application(redisStores(safeClient(server), testBackendOptions()));

    const answers = await Promise.all([
      first.get(Gateway).complete('hi'),
      second.get(Gateway).complete('hi'),
      second.get(Gateway).complete('hi'),
    ]);

    expect(answers).toEqual(['answer to hi', 'answer to hi', 'answer to hi']);
    expect(first.get(Gateway).runs + second.get(Gateway).runs).toBe(1);
    await second.get(Orchestrator).circuit('gw').open();
    expect(await first.get(Orchestrator).circuit('gw').state()).toBe('open');
    await Promise.all([first.close(), second.close()]);
  });

  it('closes the client it created on application shutdown, and not a client it was given', async () => {
    const server = await startRedis();
    const given = safeClient(server);
    const created = redisStores({ port: server.port, host: '127.0.0.1' }, testBackendOptions());
    const borrowing = redisStores(given, testBackendOptions());
    const apps = [await application(created), await application(borrowing)];
    await Promise.all(apps.map((app) => app.get(Gateway).complete('x')));

    await Promise.all(apps.map((app) => app.close()));

    expect(created.backend.client.status).toBe('end');
    expect(created.backend.closed).toBe(true);
    expect(borrowing.backend.closed).toBe(true);
    expect(given.status).toBe('ready');
  });
});
