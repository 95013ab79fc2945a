import { isPromiseLike, type MaybePromise } from '../core/maybe-promise.js';
import type { SharedKind } from '../core/policy-kind.js';
import {
  check,
  checkKnownKeys,
  checkNumber,
  checkObject,
  checkString,
  definedOnly,
  fieldPath,
} from '../core/validate.js';
import { InMemoryRateLimitStore } from '../rate-limit/in-memory-rate-limit.store.js';
import { RateLimitStore } from '../rate-limit/rate-limit.store.js';

/**
 * A retry budget: retries at most `ratio` of the calls plus `minPerSecond`, counted over a
 * sliding 10 s, so an outage cannot multiply the load on a failing downstream.
 *
 * @publicApi
 */
export interface RetryBudgetOptions {
  /** Retries allowed per call made, e.g. 0.2 = one retry for every five calls; >= 0. */
  ratio: number;
  /** Retries always allowed per second, whatever the traffic; >= 0. @default 1 */
  minPerSecond?: number;
  /** Methods (and processes, through a shared store) with one name share the budget. */
  name?: string;
}

type ResolvedBudget = Required<Omit<RetryBudgetOptions, 'name'>> & { name?: string };

export function resolveRetryBudget(options: RetryBudgetOptions, scope: string): ResolvedBudget {
  const path = fieldPath(scope, 'retry.budget');
  checkObject(path, options);
  checkKnownKeys(path, options, ['ratio', 'minPerSecond', 'name']);
  const resolved = { minPerSecond: 1, ...definedOnly(options) } as ResolvedBudget;
  checkNumber(`${path}.ratio`, resolved.ratio, 0);
  checkNumber(`${path}.minPerSecond`, resolved.minPerSecond, 0);
  if (resolved.name !== undefined) checkString(`${path}.name`, resolved.name);
  check(
    resolved.ratio > 0 || resolved.minPerSecond > 0,
    `${path}.ratio`,
    'above 0 when minPerSecond is 0 (no retry could ever run)',
    resolved.ratio,
  );
  return resolved;
}

/** A budget as the retry policy uses it: counts calls and asks before each retry. */
export class RetryBudget {
  private readonly options: ResolvedBudget;

  constructor(
    readonly name: string,
    options: RetryBudgetOptions,
    private readonly store: RateLimitStore = new InMemoryRateLimitStore(),
  ) {
    this.options = resolveRetryBudget(options, `RetryBudget "${name}"`);
  }

  /** A first attempt started. */
  recordCall(): void {
    const done = this.store.depositRetryBudget({ budget: this.name, calls: 1 });
    if (isPromiseLike(done)) done.then(undefined, () => undefined);
  }

  /** Whether one more retry may run now (counted if so). A store that fails allows it. */
  allowsRetry(): MaybePromise<boolean> {
    const { ratio, minPerSecond } = this.options;
    const allowed = this.store.withdrawRetryBudget({ budget: this.name, ratio, minPerSecond });
    return isPromiseLike(allowed) ? allowed.then(undefined, () => true) : allowed;
  }
}

/** Budgets are shared by name and kept in the application's rate-limit store. */
export const retryBudgetKind = {
  section: 'retryBudget',
  namedState: 'policy',
  optionKeys: ['ratio', 'minPerSecond', 'name'],
  resolve: (options, scope) => resolveRetryBudget(options!, scope),
  store: {
    key: 'rateLimit',
    token: RateLimitStore,
    methods: [],
    inMemory: (clock) => new InMemoryRateLimitStore(clock),
  },
  createPrimitive: (name, options, { store }) => new RetryBudget(name, options, store),
} satisfies SharedKind<'retryBudget', RetryBudgetOptions, RetryBudget, RateLimitStore>;
