import { Cluster, type Redis } from 'ioredis';
import { waitUntil } from './wait.js';

const SCAN_COUNT = 1000;

/** Keys with no expiry (PTTL -1), sorted; for a Cluster, collected from every master. */
export async function keysWithoutTtl(client: Redis | Cluster): Promise<string[]> {
  const nodes = client instanceof Cluster ? await masterNodes(client) : [client];
  const perNode = await Promise.all(nodes.map(nodeKeysWithoutTtl));
  return perNode.flat().sort();
}

/** Throws listing the offending keys; prefer `expect(await keysWithoutTtl(c)).toEqual([])`. */
export async function assertAllKeysHaveTtl(client: Redis | Cluster): Promise<void> {
  const missing = await keysWithoutTtl(client);
  if (missing.length > 0) throw new Error(`keys without TTL: ${missing.join(', ')}`);
}

async function masterNodes(cluster: Cluster): Promise<Redis[]> {
  // Before 'ready' the slot map is empty and nodes('master') would silently return [].
  await waitUntil(() => cluster.status === 'ready', { what: 'cluster client ready' });
  const masters = cluster.nodes('master');
  if (masters.length === 0) throw new Error('cluster client knows no master nodes');
  return masters;
}

async function nodeKeysWithoutTtl(node: Redis): Promise<string[]> {
  const keys = await scanAll(node);
  const pttls = await Promise.all(keys.map((key) => node.pttl(key)));
  return keys.filter((_, index) => pttls[index] === -1);
}

async function scanAll(node: Redis): Promise<string[]> {
  // SCAN may return a key more than once.
  const keys = new Set<string>();
  let cursor = '0';
  do {
    const [next, batch] = await node.scan(cursor, 'COUNT', SCAN_COUNT);
    batch.forEach((key) => keys.add(key));
    cursor = next;
  } while (cursor !== '0');
  return [...keys];
}
