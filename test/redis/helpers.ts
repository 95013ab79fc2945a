import type { Cluster, Redis } from 'ioredis';
import type { RedisBackendOptions } from '../../lib/redis/index.js';
import {
  stopAllRedis,
  keysWithoutTtl,
  startRedis,
  type RedisClusterHandle,
  type RedisServerHandle,
  type StartRedisOptions,
} from '../support/redis/index.js';

/** The client options the README asks users to set; short so fault tests stay fast. */
export const SAFE_CLIENT = {
  commandTimeout: 300,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
};

export function safeClient(server: RedisServerHandle): Redis {
  return server.client(SAFE_CLIENT);
}

export function safeClusterClient(cluster: RedisClusterHandle): Cluster {
  return cluster.client({
    enableOfflineQueue: false,
    redisOptions: { commandTimeout: 500, maxRetriesPerRequest: 1 },
  });
}

/** Backend options for tests: quiet, and quick to degrade and recover. */
export function testBackendOptions(
  overrides: RedisBackendOptions = {},
): RedisBackendOptions & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    keyPrefix: 'test:',
    operationTimeoutMs: 400,
    degradedCooldownMs: 300,
    logger: { warn: (message) => warnings.push(message) },
    ...overrides,
    warnings,
  };
}

/** Script executions (EVALSHA + EVAL) the server has run: one per round trip of a store. */
export async function scriptCalls(client: Redis): Promise<number> {
  const info = await client.info('commandstats');
  let total = 0;
  for (const match of info.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm))
    total += Number(match[2]);
  return total;
}

/** Servers a spec file started, so its last test can check every key on every one of them. */
export function serverTracker() {
  const servers: RedisServerHandle[] = [];
  return {
    async start(options?: StartRedisOptions): Promise<RedisServerHandle> {
      const server = await startRedis(options);
      servers.push(server);
      return server;
    },
    /** Keys without a TTL on every server still running (a killed one holds no keys). */
    async keysWithoutTtl(): Promise<string[]> {
      const running = servers.filter((server) => server.running);
      return (await Promise.all(running.map((server) => keysWithoutTtl(server.client())))).flat();
    },
  };
}

/**
 * Stores a spec file created, closed (with every server) in its `afterAll`: `track` returns the
 * store it was given, so a test can write `a = track(new RedisXStore(...))`.
 */
export function storeTracker(): {
  track<S extends { backend: { close(): Promise<void> } }>(store: S): S;
  closeAll(): Promise<void>;
} {
  const stores: Array<{ backend: { close(): Promise<void> } }> = [];
  return {
    track(store) {
      stores.push(store);
      return store;
    },
    async closeAll() {
      await Promise.all(stores.map((store) => store.backend.close()));
      await stopAllRedis();
    },
  };
}
