import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Cluster, type ClusterOptions } from 'ioredis';
import { track, untrack } from './registry.js';
import {
  disconnectOnce,
  freePorts,
  REDIS_HOST,
  SHORT_DISCONNECT,
  startRedis,
  type RedisServerHandle,
} from './redis-server.js';
import { waitUntil } from './wait.js';

const execFileAsync = promisify(execFile);

export interface StartRedisClusterOptions {
  /** Default 3 (the minimum redis-cli accepts). No replicas. */
  masters?: number;
  /** Extra redis-server arguments for every node. */
  args?: readonly string[];
  /** `--cluster-node-timeout`; default 2000. */
  nodeTimeoutMs?: number;
  /** Budget for `redis-cli --cluster create` and for cluster_state:ok. Default 15000. */
  readyTimeoutMs?: number;
}

export interface ClusterStartupNode {
  host: string;
  port: number;
}

export interface RedisClusterHandle {
  readonly nodes: readonly RedisServerHandle[];
  readonly startupNodes: readonly ClusterStartupNode[];
  client(options?: ClusterOptions): Cluster;
  /** Idempotent; disconnects clients, stops every node and deletes their temp dirs. */
  stop(): Promise<void>;
}

export async function startRedisCluster(
  options: StartRedisClusterOptions = {},
): Promise<RedisClusterHandle> {
  const { masters = 3, nodeTimeoutMs = 2000, readyTimeoutMs = 15000 } = options;
  const nodes = await startNodes(masters, nodeTimeoutMs, options.args ?? []);
  try {
    await createCluster(nodes, readyTimeoutMs);
    await waitForClusterOk(nodes, readyTimeoutMs);
  } catch (err) {
    await Promise.all(nodes.map((node) => node.stop()));
    throw err;
  }
  return new RedisCluster(nodes);
}

class RedisCluster implements RedisClusterHandle {
  readonly startupNodes: readonly ClusterStartupNode[];
  private readonly clients = new Set<Cluster>();
  private stopping?: Promise<void>;

  constructor(readonly nodes: readonly RedisServerHandle[]) {
    this.startupNodes = nodes.map((node) => ({ host: REDIS_HOST, port: node.port }));
    track(this);
  }

  client(options: ClusterOptions = {}): Cluster {
    const { redisOptions, ...clusterOptions } = options;
    const client = new Cluster([...this.startupNodes], {
      // Leases and counters must be read from masters.
      scaleReads: 'master',
      clusterRetryStrategy: () => 50,
      ...clusterOptions,
      redisOptions: { maxRetriesPerRequest: 1, ...SHORT_DISCONNECT, ...redisOptions },
    });
    // Same reason as RedisServerHandle.client(): expected errors would be logged as unhandled.
    client.on('error', () => {});
    this.clients.add(client);
    return client;
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    untrack(this);
    this.clients.forEach(disconnectOnce);
    this.clients.clear();
    await Promise.all(this.nodes.map((node) => node.stop()));
  }
}

async function startNodes(
  count: number,
  nodeTimeoutMs: number,
  extraArgs: readonly string[],
): Promise<RedisServerHandle[]> {
  const ports = await freePorts(count);
  const started = await Promise.allSettled(
    ports.map((port) =>
      startRedis({ port, args: [...clusterArgs(port, nodeTimeoutMs), ...extraArgs] }),
    ),
  );
  const nodes = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failure = started.find((result) => result.status === 'rejected');
  if (failure) {
    await Promise.all(nodes.map((node) => node.stop()));
    throw failure.reason;
  }
  return nodes;
}

function clusterArgs(port: number, nodeTimeoutMs: number): string[] {
  return [
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    `nodes-${port}.conf`,
    '--cluster-node-timeout',
    String(nodeTimeoutMs),
  ];
}

async function createCluster(
  nodes: readonly RedisServerHandle[],
  timeoutMs: number,
): Promise<void> {
  const addresses = nodes.map((node) => `${REDIS_HOST}:${node.port}`);
  const args = ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'];
  try {
    await execFileAsync('redis-cli', args, { timeout: timeoutMs });
  } catch (err) {
    throw new Error(`redis-cli --cluster create failed: ${describeExecError(err)}`, { cause: err });
  }
}

function describeExecError(err: unknown): string {
  const { message, stdout = '', stderr = '' } = err as Error & { stdout?: string; stderr?: string };
  return `${message}\n${stdout}${stderr}`;
}

async function waitForClusterOk(
  nodes: readonly RedisServerHandle[],
  timeoutMs: number,
): Promise<void> {
  await Promise.all(
    nodes.map(async (node) => {
      const probe = node.client();
      try {
        await waitUntil(async () => (await probe.cluster('INFO')).includes('cluster_state:ok'), {
          timeoutMs,
          what: `cluster_state:ok on ${node.url}`,
        });
      } finally {
        probe.disconnect();
      }
    }),
  );
}
