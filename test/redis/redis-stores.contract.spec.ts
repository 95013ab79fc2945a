import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, describe, expect, it } from '@jest/globals';
import type { Cluster, Redis } from 'ioredis';
import {
  RedisBackend,
  RedisBackpressureStore,
  RedisCircuitBreakerStore,
  RedisDedupeStore,
  RedisRateLimitStore,
} from '../../lib/redis/index.js';
import { describeBackpressureStoreContract } from '../contracts/backpressure-store.contract.js';
import { describeCircuitBreakerStoreContract } from '../contracts/circuit-breaker-store.contract.js';
import { describeDedupeStoreContract } from '../contracts/dedupe-store.contract.js';
import { describeRateLimitStoreContract } from '../contracts/rate-limit-store.contract.js';
import {
  keysWithoutTtl,
  startRedis,
  startRedisCluster,
  stopAllRedis,
  type RedisClusterHandle,
  type RedisServerHandle,
} from '../support/redis/index.js';
import { safeClient, safeClusterClient, testBackendOptions } from './helpers.js';

afterAll(() => stopAllRedis());

/** Runs the four store contracts against one Redis deployment, then checks its keys. */
function describeContracts(label: string, connect: () => Promise<Redis | Cluster>) {
  let backend: RedisBackend;
  const shared = async () => {
    backend ??= new RedisBackend(await connect(), testBackendOptions());
    return backend;
  };
  const destroy = () => backend.close();

  describeCircuitBreakerStoreContract(`RedisCircuitBreakerStore (${label})`, {
    create: async () => new RedisCircuitBreakerStore(await shared()),
  });
  describeDedupeStoreContract(`RedisDedupeStore (${label})`, {
    create: async () => new RedisDedupeStore(await shared()),
  });
  describeRateLimitStoreContract(`RedisRateLimitStore (${label})`, {
    create: async () => new RedisRateLimitStore(await shared()),
    // The server's clock: only a real wait moves it.
    advance: (ms) => delay(ms),
  });
  describeBackpressureStoreContract(`RedisBackpressureStore (${label})`, {
    create: async () => new RedisBackpressureStore(await shared()),
    destroy,
  });
}

describe('standalone Redis', () => {
  let server: RedisServerHandle;
  describeContracts('standalone', async () => {
    server = await startRedis();
    return safeClient(server);
  });

  it('left a TTL on every key the stores created', async () => {
    const client = server.client();
    expect((await client.keys('test:*')).length).toBeGreaterThan(20);
    expect(await keysWithoutTtl(client)).toEqual([]);
  });
});

describe('3-master Redis Cluster', () => {
  let cluster: RedisClusterHandle;
  describeContracts('Cluster', async () => {
    cluster = await startRedisCluster();
    return safeClusterClient(cluster);
  });

  it('spread the objects over every master and left a TTL on every key', async () => {
    const perMaster = await Promise.all(
      cluster.nodes.map(async (node) => (await node.client().keys('test:*')).length),
    );
    expect(perMaster.every((count) => count > 0)).toBe(true);
    expect(await keysWithoutTtl(safeClusterClient(cluster))).toEqual([]);
  });

  it('keeps every key of one object in one slot', async () => {
    const node = cluster.nodes[0].client();
    const keys = (await Promise.all(cluster.nodes.map((n) => n.client().keys('test:*')))).flat();
    const byTag = new Map<string, Set<number>>();
    for (const key of keys) {
      const tag = /\{[^}]*\}/.exec(key)![0];
      const slot = Number(await node.cluster('KEYSLOT', key));
      byTag.set(tag, (byTag.get(tag) ?? new Set()).add(slot));
    }
    expect(byTag.size).toBeGreaterThan(10);
    expect([...byTag.values()].every((slots) => slots.size === 1)).toBe(true);
  });
});
