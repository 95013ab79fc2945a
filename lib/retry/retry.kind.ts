import type { PolicyKind } from '../core/policy-kind.js';
import { RetryLayer } from './retry.layer.js';
import { RetryPolicy } from './retry.policy.js';
import { retryBudgetKind } from './retry-budget.js';
import { resolveRetryOptions, type RetryOptions } from './retry-options.js';

/** Retry keeps no shared state: each method gets its own policy, labelled with the policy name. */
export const retryKind = {
  section: 'retry',
  decorator: '@Retry',
  namedState: 'policy',
  optionKeys: [
    'maxAttempts',
    'baseDelayMs',
    'maxDelayMs',
    'jitter',
    'retryOn',
    'honorRetryAfter',
    'budget',
  ],
  resolve: (options, scope) => resolveRetryOptions(options, scope),
  createLayer: ({ options, clock, events, name, share }) => {
    // A budget is shared by its own name (else the policy's): methods with different retry
    // settings may still draw on one budget.
    const { budget: budgetOptions } = options;
    const budget =
      budgetOptions && share(retryBudgetKind, budgetOptions.name ?? name, budgetOptions);
    return new RetryLayer(new RetryPolicy(options, { clock, events, name, budget }));
  },
} satisfies PolicyKind<'retry', RetryOptions>;
