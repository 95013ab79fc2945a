import { InMemoryBackpressureStore } from '../../lib/backpressure/in-memory-backpressure.store.js';
import { InMemoryCircuitBreakerStore } from '../../lib/circuit-breaker/in-memory-circuit-breaker.store.js';
import { InMemoryDedupeStore } from '../../lib/dedupe/in-memory-dedupe.store.js';
import { describeBackpressureStoreContract } from './backpressure-store.contract.js';
import { describeCircuitBreakerStoreContract } from './circuit-breaker-store.contract.js';
import { describeDedupeStoreContract } from './dedupe-store.contract.js';
import { InMemoryRateLimitStore } from '../../lib/rate-limit/in-memory-rate-limit.store.js';
import { FakeClock } from '../support/fake-clock.js';
import { describeRateLimitStoreContract } from './rate-limit-store.contract.js';

describeCircuitBreakerStoreContract('InMemoryCircuitBreakerStore', {
  create: () => new InMemoryCircuitBreakerStore(),
});

describeDedupeStoreContract('InMemoryDedupeStore', {
  create: () => new InMemoryDedupeStore(),
});

describeBackpressureStoreContract('InMemoryBackpressureStore', {
  create: () => new InMemoryBackpressureStore(),
});

const rateLimitClock = new FakeClock();
describeRateLimitStoreContract('InMemoryRateLimitStore', {
  create: () => new InMemoryRateLimitStore(rateLimitClock),
  advance: async (ms) => rateLimitClock.advance(ms),
});
