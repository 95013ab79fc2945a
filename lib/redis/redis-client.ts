import { InvalidOptionsError } from '../core/invalid-options.error.js';
import { bounded, noop } from './bounded.js';
import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';

/**
 * A connection the Redis stores accept: a standalone `Redis` client or a `Cluster` client.
 *
 * @publicApi
 */
export type RedisClient = Redis | Cluster;

/**
 * How to reach Redis when the stores should create (and later close) the client themselves: a
 * URL, standalone `RedisOptions`, or Cluster seed nodes. The safe defaults (`commandTimeout`
 * 250, `enableOfflineQueue: false`, `maxRetriesPerRequest: 1`) apply unless overridden.
 *
 * @publicApi
 */
export type RedisConnectionSpec =
  string | RedisOptions | { cluster: ClusterNode[]; options?: ClusterOptions };

/** The largest `maxRetriesPerRequest` that still fails a command fast once the link drops. */
const MAX_SENSIBLE_RETRIES = 2;

const SAFE_DEFAULTS = {
  commandTimeout: 250,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  // A command given up on is not sent again after a reconnect (it would count twice, or hold a
  // slot for nobody).
  autoResendUnfulfilledCommands: false,
};

export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}

export function isRedisClient(value: unknown): value is RedisClient {
  return value instanceof Redis || value instanceof Cluster || hasClientShape(value);
}

/** Recognises a client from another copy of ioredis, where instanceof fails. */
function hasClientShape(value: unknown): boolean {
  const candidate = value as { defineCommand?: unknown; duplicate?: unknown; status?: unknown };
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof candidate.defineCommand === 'function' &&
    typeof candidate.duplicate === 'function' &&
    typeof candidate.status === 'string'
  );
}

/** A client for `spec`, with the safe defaults under the caller's own options. */
export function createClient(spec: RedisConnectionSpec): RedisClient {
  if (typeof spec === 'string') return new Redis(spec, { ...SAFE_DEFAULTS });
  if ('cluster' in spec) {
    const { enableOfflineQueue = false, redisOptions, ...rest } = spec.options ?? {};
    const { enableOfflineQueue: _topLevelOnly, ...perNode } = SAFE_DEFAULTS;
    return new Cluster(spec.cluster, {
      ...rest,
      enableOfflineQueue,
      redisOptions: { ...perNode, ...redisOptions },
    });
  }
  return new Redis({ ...SAFE_DEFAULTS, ...spec });
}

export function disconnect(client: RedisClient): void {
  // disconnect() on an ended client arms a timer that never clears (ioredis).
  if (client.status !== 'end') client.disconnect();
}

/** QUIT, then wait for the connection to end; each step bounded, a disconnect to finish. */
export async function quitClient(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === 'end') return;
  const ended = new Promise<void>((resolve) => client.once('end', resolve));
  await bounded(client.quit(), timeoutMs, 'QUIT').catch(noop);
  await bounded(ended, timeoutMs, 'the connection to close').catch(noop);
  disconnect(client);
}

/**
 * How long the client may go on sending a command the backend gave up on: a Cluster retries it
 * up to `maxRedirections` times, `retryDelayOnTryAgain` apart; a standalone client resends
 * unanswered commands when it reconnects. Best effort, with a margin.
 */
export function lateResendWindowMs(client: RedisClient, operationTimeoutMs: number): number {
  if (!isCluster(client)) return 2_000 + operationTimeoutMs;
  const options = client.options;
  const delays = [
    options.retryDelayOnTryAgain ?? 100,
    options.retryDelayOnClusterDown ?? 100,
    options.retryDelayOnFailover ?? 100,
    options.retryDelayOnMoved ?? 0,
  ];
  return Math.max(...delays) * (options.maxRedirections ?? 16) + operationTimeoutMs;
}

/**
 * Refuses a client the stores cannot work with. With `enableAutoPipelining`, ioredis batches the
 * stores' custom Lua commands into pipelines that do not know them (`pipeline[name] is not a
 * function`) and can throw inside ioredis, outside any caller's reach.
 */
export function assertSupportedClient(client: RedisClient): void {
  const options = client.options as { enableAutoPipelining?: boolean };
  if (options.enableAutoPipelining === true) {
    throw new InvalidOptionsError(
      'Redis stores: client option enableAutoPipelining',
      'should be false (the stores run custom Lua commands, which ioredis cannot auto-pipeline); give the stores a client without it, e.g. client.duplicate({ enableAutoPipelining: false })',
    );
  }
}

/**
 * The client settings without which a down or hung Redis makes commands hang or queue. Each
 * missing one is a warning, not an error: the stores still bound every call with their own
 * timeout, but commands would pile up inside the client meanwhile.
 *
 * @publicApi
 */
export function clientOptionWarnings(client: RedisClient): string[] {
  return isCluster(client) ? clusterWarnings(client) : standaloneWarnings(client);
}

function standaloneWarnings(client: Redis): string[] {
  const { commandTimeout, enableOfflineQueue, maxRetriesPerRequest } = client.options;
  return [
    ...commandTimeoutWarning(commandTimeout, 'commandTimeout'),
    ...offlineQueueWarning(enableOfflineQueue, 'enableOfflineQueue'),
    ...retriesWarning(maxRetriesPerRequest, 'maxRetriesPerRequest'),
  ];
}

function clusterWarnings(cluster: Cluster): string[] {
  const { enableOfflineQueue, redisOptions = {} } = cluster.options;
  const warnings = [
    ...commandTimeoutWarning(redisOptions.commandTimeout, 'redisOptions.commandTimeout'),
    // A Cluster ignores enableOfflineQueue inside redisOptions; only the top-level one counts.
    ...offlineQueueWarning(enableOfflineQueue, 'enableOfflineQueue (top level of ClusterOptions)'),
    ...retriesWarning(redisOptions.maxRetriesPerRequest, 'redisOptions.maxRetriesPerRequest'),
  ];
  if ('enableOfflineQueue' in redisOptions) {
    warnings.push(
      'redisOptions.enableOfflineQueue has no effect on a Cluster client; set enableOfflineQueue at the top level of ClusterOptions',
    );
  }
  return warnings;
}

function commandTimeoutWarning(value: number | undefined, name: string): string[] {
  if (typeof value === 'number' && value > 0) return [];
  return [
    `${name} is not set: on a hung Redis (paused, partitioned) commands never settle, so each guarded call waits for operationTimeoutMs and the commands pile up in the client. Set ${name} (e.g. 250)`,
  ];
}

function offlineQueueWarning(value: boolean | undefined, name: string): string[] {
  if (value === false) return [];
  return [
    `${name} is not false: while Redis is unreachable commands are queued instead of failing fast, and run late when it returns. Set ${name}: false`,
  ];
}

function retriesWarning(value: number | null | undefined, name: string): string[] {
  if (typeof value === 'number' && value <= MAX_SENSIBLE_RETRIES) return [];
  return [
    `${name} is ${value === undefined ? 'not set (ioredis retries 20 times)' : String(value)}: a command is resent on every reconnect before it fails. Set ${name}: 1`,
  ];
}
