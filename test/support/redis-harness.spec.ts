import { existsSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  assertAllKeysHaveTtl,
  keysWithoutTtl,
  startRedis,
  startRedisCluster,
  stopAllRedis,
  waitUntil,
  type RedisClusterHandle,
} from './redis/index.js';

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

afterAll(() => stopAllRedis());

describe('startRedis', () => {
  it('starts a private server that answers SET/GET', async () => {
    const server = await startRedis();
    const client = server.client();

    await client.set('greeting', 'hello');

    expect(await client.get('greeting')).toBe('hello');
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    expect(isProcessAlive(server.pid)).toBe(true);
  });

  it('pause() makes commands time out and resume() brings them back', async () => {
    const server = await startRedis();
    const client = server.client({ commandTimeout: 200 });
    await client.ping();

    server.pause();
    await expect(client.ping()).rejects.toThrow(/timed out/i);

    server.resume();
    await expect(client.ping()).resolves.toBe('PONG');
  });

  it('kill() fails commands; restart() reuses the port and the client reconnects by itself', async () => {
    const server = await startRedis();
    const client = server.client();
    await client.set('lost', '1');
    const { port, pid } = server;

    await server.kill();
    await expect(client.get('lost')).rejects.toThrow();

    await server.restart();
    await waitUntil(() => client.status === 'ready', { what: 'client reconnect' });

    expect(server.port).toBe(port);
    expect(server.pid).not.toBe(pid);
    expect(isProcessAlive(pid)).toBe(false);
    expect(await client.get('lost')).toBeNull();
  });

  it('gives concurrent servers different ports and separate data', async () => {
    const [first, second] = await Promise.all([startRedis(), startRedis()]);
    await first.client().set('owner', 'first');

    expect(first.port).not.toBe(second.port);
    expect(await second.client().get('owner')).toBeNull();
  });

  it('stop() is idempotent, works while paused and leaves no process or temp dir', async () => {
    const server = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
    const client = server.client();
    expect(await client.config('GET', 'maxmemory-policy')).toEqual([
      'maxmemory-policy',
      'noeviction',
    ]);
    server.pause();

    await Promise.all([server.stop(), server.stop()]);
    await server.stop();

    expect(isProcessAlive(server.pid)).toBe(false);
    expect(() => process.kill(server.pid, 0)).toThrow();
    expect(existsSync(server.dir)).toBe(false);
    expect(client.status).toBe('end');
  });

  it('stop() after kill() stops a reconnecting client from retrying', async () => {
    const server = await startRedis();
    const client = server.client();
    await client.ping();
    await server.kill();
    await waitUntil(() => client.status === 'reconnecting', { what: 'client reconnecting' });

    await server.stop();
    let retries = 0;
    client.on('reconnecting', () => retries++);
    await delay(200);

    expect(retries).toBe(0);
  });

  it('fails with the server output when redis-server exits before it is ready', async () => {
    const start = startRedis({ args: ['--maxmemory-policy', 'bogus'] });

    await expect(start).rejects.toThrow(/exited before it was ready[\s\S]*FATAL CONFIG FILE ERROR/);
  });

  it('fails clearly when the binary is missing', async () => {
    const start = startRedis({ binary: 'redis-server-that-does-not-exist' });

    await expect(start).rejects.toThrow('not found: apt-get install -y redis-server');
  });
});

describe('keysWithoutTtl', () => {
  it('lists keys without expiry and skips keys with one', async () => {
    const client = (await startRedis()).client();
    await client.set('no-ttl', '1');
    await client.set('with-ttl', '1', 'PX', 60_000);

    expect(await keysWithoutTtl(client)).toEqual(['no-ttl']);
    await expect(assertAllKeysHaveTtl(client)).rejects.toThrow('keys without TTL: no-ttl');
  });
});

describe('startRedisCluster', () => {
  let cluster: RedisClusterHandle;

  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3 });
  });

  it('runs a hash-tagged key pair in one MULTI and one EVAL', async () => {
    const client = cluster.client();

    const results = await client.multi().set('{tag}a', '1').set('{tag}b', '2').exec();
    const values = await client.eval(
      "return { redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]) }",
      2,
      '{tag}a',
      '{tag}b',
    );

    expect(results).toEqual([
      [null, 'OK'],
      [null, 'OK'],
    ]);
    expect(values).toEqual(['1', '2']);
  });

  it('hashes untagged keys to different slots and tagged keys to the same one', async () => {
    const client = cluster.client();

    const slot = (key: string): Promise<number> => client.cluster('KEYSLOT', key);

    expect(await slot('a')).not.toBe(await slot('b'));
    expect(await slot('{tag}a')).toBe(await slot('{tag}b'));
  });

  it('keysWithoutTtl scans every master', async () => {
    const client = cluster.client();
    // Slots 15495, 3300 and 7365: one key on each of the three masters.
    await Promise.all(['a', 'b', 'c'].map((key) => client.set(key, '1')));
    await client.set('d', '1', 'PX', 60_000);

    const missing = await keysWithoutTtl(client);

    expect(missing).toEqual(expect.arrayContaining(['a', 'b', 'c']));
    expect(missing).not.toContain('d');
  });

  it('stop() leaves no node process', async () => {
    const pids = cluster.nodes.map((node) => node.pid);

    await cluster.stop();

    expect(pids.filter(isProcessAlive)).toEqual([]);
    expect(cluster.nodes.some((node) => existsSync(node.dir))).toBe(false);
  });
});
