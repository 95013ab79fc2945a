import type { PolicyKind } from '../core/policy-kind.js';
import { BackpressureGuard } from './backpressure.policy.js';
import { BackpressureLayer } from './backpressure.layer.js';
import { BackpressureStore } from './backpressure.store.js';
import { resolveBackpressureOptions, type BackpressureOptions } from './backpressure-options.js';
import { InMemoryBackpressureStore } from './in-memory-backpressure.store.js';

/** One cap per name, over the application's backpressure store. */
export const backpressureKind = {
  section: 'backpressure',
  decorator: '@Backpressure',
  namedState: 'policy',
  optionKeys: ['name', 'capacity', 'softLimit', 'maxWaitMs', 'maxQueue', 'leaseMs'],
  resolve: (options, scope) => resolveBackpressureOptions(options!, scope),
  store: {
    token: BackpressureStore,
    methods: ['acquire', 'release', 'renew', 'depth'],
    inMemory: (clock) => new InMemoryBackpressureStore(clock),
  },
  createPrimitive: (name, options, { store, clock, events, logger }) =>
    new BackpressureGuard(options, store, { clock, events, name, logger }),
  createLayer: ({ primitive }) => new BackpressureLayer(primitive),
} satisfies PolicyKind<'backpressure', BackpressureOptions, BackpressureGuard, BackpressureStore>;
