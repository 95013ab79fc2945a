export {
  RedisBackend,
  type ChannelListener,
  type RedisConnectionSpec,
  type Undo,
} from './redis-backend.js';
export { clientOptionWarnings, type RedisClient } from './redis-client.js';
export {
  DEFAULT_REDIS_BACKEND_OPTIONS,
  type RedisBackendOptions,
  type RedisStoreEvent,
  type RedisStoreLogger,
} from './redis-options.js';
export { RedisUnavailableError, isRedisUnavailableError } from './redis-unavailable.error.js';
export {
  RedisCircuitBreakerStore,
  type RedisCircuitBreakerStoreOptions,
} from './redis-circuit-breaker.store.js';
export { RedisDedupeStore, type RedisDedupeStoreOptions } from './redis-dedupe.store.js';
export {
  DedupeSerializationError,
  isDedupeSerializationError,
  jsonDedupeSerializer,
  type DedupeSerializer,
} from './dedupe-serializer.js';
export {
  RedisBackpressureStore,
  type RedisBackpressureStoreOptions,
} from './redis-backpressure.store.js';
export { RedisRateLimitStore, type RedisRateLimitStoreOptions } from './redis-rate-limit.store.js';
export { redisStores, type RedisStores, type RedisStoresOptions } from './redis-stores.js';
export type { LuaScript } from './lua/script.js';
export type { ResolvedRedisBackendOptions } from './redis-options.js';
