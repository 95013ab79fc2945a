import type { OrchestratorStores } from '../kinds/policy-kinds.js';
import { RedisBackend, type RedisConnectionSpec } from './redis-backend.js';
import {
  RedisBackpressureStore,
  type RedisBackpressureStoreOptions,
} from './redis-backpressure.store.js';
import type { RedisClient } from './redis-client.js';
import {
  RedisCircuitBreakerStore,
  type RedisCircuitBreakerStoreOptions,
} from './redis-circuit-breaker.store.js';
import { RedisDedupeStore, type RedisDedupeStoreOptions } from './redis-dedupe.store.js';
import type { RedisBackendOptions } from './redis-options.js';
import { RedisRateLimitStore, type RedisRateLimitStoreOptions } from './redis-rate-limit.store.js';

type OwnOptions<T> = Omit<T, keyof RedisBackendOptions>;

/**
 * Options of `redisStores()`: the shared connection's options, and each store's own.
 *
 * @publicApi
 */
export interface RedisStoresOptions extends RedisBackendOptions {
  circuitBreaker?: OwnOptions<RedisCircuitBreakerStoreOptions>;
  dedupe?: OwnOptions<RedisDedupeStoreOptions>;
  backpressure?: OwnOptions<RedisBackpressureStoreOptions>;
  rateLimit?: OwnOptions<RedisRateLimitStoreOptions>;
}

/**
 * The Redis stores over one shared backend, ready for `forRoot({ stores })`.
 *
 * @publicApi
 */
export interface RedisStores extends OrchestratorStores {
  readonly circuitBreaker: RedisCircuitBreakerStore;
  readonly dedupe: RedisDedupeStore;
  readonly backpressure: RedisBackpressureStore;
  /** Rate limits and retry budgets. */
  readonly rateLimit: RedisRateLimitStore;
  /** The connection the stores share: degraded state, events, key naming. */
  readonly backend: RedisBackend;
  /** Stops timers and the subscriber; closes the client only if these stores created it. */
  close(): Promise<void>;
}

/**
 * Builds the circuit breaker, dedupe, backpressure and rate limit stores on one Redis connection (one
 * subscriber connection, one degraded-mode state). Given a client, the stores leave it open;
 * given a URL, options or Cluster nodes, they create the client with safe defaults and close it
 * on application shutdown (each store implements `OnApplicationShutdown`) or on `close()`.
 *
 * @publicApi
 * @example
 * const redis = new Redis({ commandTimeout: 250, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
 * OrchestratorModule.forRoot({ stores: redisStores(redis, { keyPrefix: 'myapp:' }), policies });
 */
export function redisStores(
  client: RedisClient | RedisConnectionSpec,
  options: RedisStoresOptions = {},
): RedisStores {
  const { circuitBreaker, dedupe, backpressure, rateLimit, ...backendOptions } = options;
  const backend = new RedisBackend(client, backendOptions);
  const stores = {
    circuitBreaker: new RedisCircuitBreakerStore(backend, circuitBreaker),
    dedupe: new RedisDedupeStore(backend, dedupe),
    backpressure: new RedisBackpressureStore(backend, backpressure),
    rateLimit: new RedisRateLimitStore(backend, rateLimit),
  };
  // Not enumerable: forRoot({ stores }) reads every enumerable property as a store.
  return Object.defineProperties(stores, {
    backend: { value: backend },
    close: { value: () => backend.close() },
  }) as RedisStores;
}
