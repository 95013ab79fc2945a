import type { PolicyKind } from '../core/policy-kind.js';
import { RetryLayer } from './retry.layer.js';
import { RetryPolicy } from './retry.policy.js';
import { resolveRetryOptions, type RetryOptions } from './retry-options.js';

/** Retry keeps no shared state: each method gets its own policy, labelled with the policy name. */
export const retryKind = {
  section: 'retry',
  decorator: '@Retry',
  namedState: 'policy',
  optionKeys: ['maxAttempts', 'baseDelayMs', 'maxDelayMs', 'jitter', 'retryOn', 'honorRetryAfter'],
  resolve: (options, scope) => resolveRetryOptions(options, scope),
  createLayer: ({ options, clock, events, name }) =>
    new RetryLayer(new RetryPolicy(options, { clock, events, name })),
} satisfies PolicyKind<'retry', RetryOptions>;
