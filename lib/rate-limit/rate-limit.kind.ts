import type { PolicyKind } from '../core/policy-kind.js';
import { InMemoryRateLimitStore } from './in-memory-rate-limit.store.js';
import { RateLimitLayer } from './rate-limit.layer.js';
import { RateLimiter } from './rate-limiter.js';
import { RateLimitStore } from './rate-limit.store.js';
import {
  RATE_LIMIT_OPTION_KEYS,
  resolveRateLimitOptions,
  type RateLimitOptions,
} from './rate-limit-options.js';

/** One limiter per name, over the application's rate-limit store. */
export const rateLimitKind = {
  section: 'rateLimit',
  decorator: '@RateLimit',
  namedState: 'policy',
  optionKeys: RATE_LIMIT_OPTION_KEYS,
  resolve: (options, scope) => resolveRateLimitOptions(options!, scope),
  store: {
    token: RateLimitStore,
    methods: ['reserve', 'adjust', 'cooldown', 'available', 'reset'],
    inMemory: (clock) => new InMemoryRateLimitStore(clock),
  },
  createPrimitive: (name, options, { store, clock, events }) =>
    new RateLimiter(name, options, store, { clock, events }),
  createLayer: ({ primitive }) => new RateLimitLayer(primitive),
} satisfies PolicyKind<'rateLimit', RateLimitOptions, RateLimiter, RateLimitStore>;
