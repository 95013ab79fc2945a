import type { PolicyKind } from '../core/policy-kind.js';
import { CircuitBreakerLayer } from './circuit-breaker.layer.js';
import { CircuitBreakerPolicy } from './circuit-breaker.policy.js';
import { CircuitBreakerStore } from './circuit-breaker.store.js';
import {
  resolveCircuitBreakerOptions,
  type CircuitBreakerOptions,
} from './circuit-breaker-options.js';
import { InMemoryCircuitBreakerStore } from './in-memory-circuit-breaker.store.js';

/** One circuit per name, over the application's circuit-breaker store. */
export const circuitBreakerKind = {
  section: 'circuitBreaker',
  decorator: '@CircuitBreaker',
  namedState: 'policy',
  optionKeys: [
    'name',
    'threshold',
    'recoveryWindowMs',
    'halfOpenMaxCalls',
    'probeLeaseMs',
    'isFailure',
    'failureRateThreshold',
    'minimumCalls',
    'windowSize',
    'windowMs',
    'slowCallMs',
    'slowCallRateThreshold',
    'syncIntervalMs',
  ],
  resolve: (options, scope) => resolveCircuitBreakerOptions(options, scope),
  store: {
    token: CircuitBreakerStore,
    methods: ['admit', 'record', 'snapshot', 'force'],
    inMemory: (clock) => new InMemoryCircuitBreakerStore(clock),
  },
  createPrimitive: (name, options, { store, clock, events }) =>
    new CircuitBreakerPolicy(name, options, store, { clock, events }),
  createLayer: ({ primitive }) => new CircuitBreakerLayer(primitive),
} satisfies PolicyKind<
  'circuitBreaker',
  CircuitBreakerOptions,
  CircuitBreakerPolicy,
  CircuitBreakerStore
>;
