import type { PolicyKind } from '../core/policy-kind.js';
import { DedupeLayer } from './dedupe.layer.js';
import { DedupeStore } from './dedupe.store.js';
import { Deduplicator } from './deduplicator.js';
import { resolveDedupeOptions, type DedupeOptions } from './dedupe-options.js';
import { InMemoryDedupeStore } from './in-memory-dedupe.store.js';

/**
 * Results are per method unless the section names them: sharing results across methods must be
 * explicit. The key function reads each method's own arguments, so each method brings its own.
 */
export const dedupeKind = {
  section: 'dedupe',
  decorator: '@Dedupe',
  namedState: 'method',
  optionKeys: ['name', 'key', 'ttlMs', 'maxEntries', 'leaseMs'],
  perMethodSettings: ['key'],
  resolve: (options, scope) => resolveDedupeOptions(options, scope),
  store: {
    token: DedupeStore,
    methods: ['claim', 'complete', 'fail', 'renew', 'forget', 'size'],
    inMemory: (clock) => new InMemoryDedupeStore(clock),
  },
  createPrimitive: (name, options, { store, clock, events }) =>
    new Deduplicator(options, store, { clock, events, name }),
  createLayer: ({ primitive, options }) => new DedupeLayer(primitive, options),
} satisfies PolicyKind<'dedupe', DedupeOptions, Deduplicator, DedupeStore>;
