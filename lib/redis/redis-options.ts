import {
  check,
  checkFunction,
  checkInteger,
  checkNumber,
  checkObject,
  definedOnly,
} from '../core/validate.js';

/**
 * Something the Redis stores report: degraded mode, recovery, lost leases, start-up warnings.
 *
 * @publicApi
 */
export type RedisStoreEvent =
  | { type: 'redis.degraded'; error: unknown; retryInMs: number }
  | { type: 'redis.recovered'; degradedForMs: number }
  | { type: 'redis.error'; operation: string; error: unknown }
  | { type: 'redis.lease-lost'; primitive: 'dedupe' | 'backpressure'; name: string }
  | { type: 'redis.warning'; message: string }
  /**
   * Redis refused a command for a reason an operator must fix (NOPERM, READONLY, MISCONF, a
   * disabled command...): emitted once per kind until Redis recovers, and logged as an error.
   */
  | { type: 'redis.misconfigured'; operation: string; error: unknown; fix: string };

/**
 * Where the Redis stores write their warnings; Nest's `Logger` fits.
 *
 * @publicApi
 */
export interface RedisStoreLogger {
  warn(message: string): void;
  log?(message: string): void;
  /** A refusal an operator must fix (a missing permission...); `warn` when absent. */
  error?(message: string): void;
}

/**
 * Options shared by every Redis store (and by the `RedisBackend` they share).
 *
 * @publicApi
 */
export interface RedisBackendOptions {
  /**
   * Prepended to every key and channel, so several applications can share one Redis. Must not
   * contain `{` or `}`: the stores put a hash tag in every key themselves. @default 'orch:'
   */
  keyPrefix?: string;
  /**
   * The longest a guarded call waits for one Redis round trip before it falls back to
   * in-process behaviour. Set the client's `commandTimeout` below it. @default 500
   */
  operationTimeoutMs?: number;
  /** Consecutive Redis failures (errors, timeouts) that switch to degraded mode. @default 3 */
  degradeAfterFailures?: number;
  /** How long degraded mode lasts before Redis is tried again. @default 2000 */
  degradedCooldownMs?: number;
  /** Check the client's options and `maxmemory-policy` at start-up and warn. @default true */
  checkClient?: boolean;
  /**
   * The most the writes queued while Redis is unavailable (releases, results, undos of lost
   * decisions, replayed once it answers) may hold, in bytes; also at most 10,000 writes. Past
   * it the oldest are dropped, with one warning per overflow: what they end stays taken until
   * its lease lapses. @default 8 MiB
   */
  maxQueuedWriteBytes?: number;
  /** Receives warnings. @default Nest's `Logger` with the context 'RedisStores' */
  logger?: RedisStoreLogger;
  /** Receives every store event; an exception it throws is ignored. */
  onEvent?: (event: RedisStoreEvent) => void;
}

export interface ResolvedRedisBackendOptions {
  keyPrefix: string;
  operationTimeoutMs: number;
  degradeAfterFailures: number;
  degradedCooldownMs: number;
  checkClient: boolean;
  maxQueuedWriteBytes: number;
  logger?: RedisStoreLogger;
  onEvent?: (event: RedisStoreEvent) => void;
}

/**
 * The defaults of `RedisBackendOptions`.
 *
 * @publicApi
 */
export const DEFAULT_REDIS_BACKEND_OPTIONS = {
  keyPrefix: 'orch:',
  operationTimeoutMs: 500,
  degradeAfterFailures: 3,
  degradedCooldownMs: 2000,
  checkClient: true,
  maxQueuedWriteBytes: 8_388_608, // 8 MiB
} as const;

export function resolveBackendOptions(
  options: RedisBackendOptions = {},
  scope = 'Redis stores',
): ResolvedRedisBackendOptions {
  checkObject(scope, options);
  const resolved = { ...DEFAULT_REDIS_BACKEND_OPTIONS, ...definedOnly(options) };
  const at = (field: string) => `${scope}: ${field}`;
  const prefix = resolved.keyPrefix;
  const prefixOk = typeof prefix === 'string' && !/[{}]/.test(prefix);
  check(prefixOk, at('keyPrefix'), 'a string without { or }', prefix);
  checkNumber(at('operationTimeoutMs'), resolved.operationTimeoutMs, 1);
  checkInteger(at('degradeAfterFailures'), resolved.degradeAfterFailures, 1);
  checkNumber(at('degradedCooldownMs'), resolved.degradedCooldownMs, 0);
  checkNumber(at('maxQueuedWriteBytes'), resolved.maxQueuedWriteBytes, 1);
  if (resolved.logger !== undefined) checkFunction(at('logger.warn'), resolved.logger.warn);
  if (resolved.logger?.error !== undefined)
    checkFunction(at('logger.error'), resolved.logger.error);
  if (resolved.onEvent !== undefined) checkFunction(at('onEvent'), resolved.onEvent);
  return resolved;
}
