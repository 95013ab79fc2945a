import type { PolicyKind } from '../core/policy-kind.js';
import { TimeoutLayer } from './timeout.layer.js';
import { resolveTimeoutOptions, type TimeoutOptions } from './timeout-options.js';

/** Timeouts keep no shared state: each method gets its own deadlines, named after its policy. */
export const timeoutKind = {
  section: 'timeout',
  decorator: '@Timeout',
  namedState: 'policy',
  optionKeys: ['ms', 'firstItemMs', 'idleMs'],
  normalize: (section) => (typeof section === 'number' ? { ms: section } : section),
  resolve: (options, scope) => resolveTimeoutOptions(options!, scope),
  createLayer: ({ options, clock, name }) => new TimeoutLayer(options, { name, clock }),
} satisfies PolicyKind<'timeout', TimeoutOptions>;
