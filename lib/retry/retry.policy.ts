import { systemClock, type Clock } from '../core/clock.js';
import { silentSink, wantsNotable, type EventSink } from '../core/events.js';
import { retryAfterHintMs } from '../core/retry-after.js';
import { RetryBudget } from './retry-budget.js';
import {
  resolveRetryOptions,
  type ResolvedRetryOptions,
  type RetryOptions,
} from './retry-options.js';

export interface RetryRuntime {
  clock?: Clock;
  events?: EventSink;
  /** Reported in events; the decorator passes its policy or `Class.method` name. */
  name?: string;
  /** Source of randomness for jitter, in [0, 1). */
  random?: () => number;
  /** The shared budget retries draw on; absent, `options.budget` gets a private one. */
  budget?: RetryBudget;
}

/**
 * Exponential backoff with jitter, a cap, a retry filter and Retry-After hints. Pure: the
 * clock and randomness are injected.
 *
 * @publicApi
 * @example
 * const retry = RetryPolicy.exponential(3, 100);
 * const answer = await retry.execute(() => client.chat(prompt));
 */
export class RetryPolicy {
  readonly options: ResolvedRetryOptions;
  readonly name: string;
  readonly clock: Clock;
  private readonly events: EventSink;
  private readonly random: () => number;
  private readonly budget: RetryBudget | undefined;

  constructor(options: RetryOptions = {}, runtime: RetryRuntime = {}) {
    this.options = resolveRetryOptions(options, 'RetryPolicy');
    this.name = runtime.name ?? 'retry';
    this.clock = runtime.clock ?? systemClock;
    this.events = runtime.events ?? silentSink;
    this.random = runtime.random ?? Math.random;
    const { budget } = this.options;
    this.budget = runtime.budget ?? (budget && new RetryBudget(budget.name ?? this.name, budget));
  }

  /** A call's first attempt started: counted by the budget, if any. */
  started(): void {
    this.budget?.recordCall();
  }

  /**
   * Whether the budget lets one more retry run (always, without a budget); reports a refusal.
   * Asked only once a retry is otherwise due, so refusals are what the budget alone decided.
   */
  async budgetAllows(error: unknown): Promise<boolean> {
    if (this.budget === undefined || (await this.budget.allowsRetry())) return true;
    if (this.events.active) {
      this.events.emit({
        type: 'retry.budget-exhausted',
        policy: this.name,
        budget: this.budget.name,
        error,
      });
    }
    return false;
  }

  /**
   * The seed's constructor: `maxAttempts` attempts in all, the first retry after `baseMs`.
   * @throws {InvalidOptionsError} when `maxAttempts` or `baseMs` is below 1
   */
  static exponential(
    maxAttempts: number,
    baseMs: number,
    options: Omit<RetryOptions, 'maxAttempts' | 'baseDelayMs'> = {},
    runtime?: RetryRuntime,
  ): RetryPolicy {
    return new RetryPolicy({ ...options, maxAttempts, baseDelayMs: baseMs }, runtime);
  }

  get maxAttempts(): number {
    return this.options.maxAttempts;
  }

  /** Delay before retry `attempt` (1 = the first retry), before jitter: base * 2^(n-1), capped. */
  delayFor(attempt: number): number {
    const { baseDelayMs, maxDelayMs } = this.options;
    const exponent = Math.max(0, attempt - 1);
    return Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(exponent, 1023));
  }

  /**
   * The delay to wait after `attempt` failed with `error`, or `undefined` to give up.
   * `previousDelayMs` feeds decorrelated jitter.
   */
  nextDelay(error: unknown, attempt: number, previousDelayMs = 0): number | undefined {
    if (attempt >= this.options.maxAttempts) return undefined;
    if (!this.shouldRetry(error, attempt)) return undefined;
    const hint = this.options.honorRetryAfter
      ? retryAfterHintMs(error, this.clock.now())
      : undefined;
    if (hint !== undefined) return Math.min(hint, this.options.maxDelayMs);
    return this.jittered(this.delayFor(attempt), previousDelayMs);
  }

  /** Runs `fn` until it succeeds, the filter refuses, or the attempts run out. */
  execute<T>(fn: (attempt: number) => T | Promise<T>, signal?: AbortSignal): Promise<T> {
    this.started();
    // The retry closure is built only once the first attempt failed: success allocates less.
    return runAttempt(fn, 1).then(undefined, (error) =>
      this.retryAfterFailure((n) => runAttempt(fn, n), error, signal),
    );
  }

  /**
   * Retries `run` after its first attempt failed with `error`; rethrows the last error. Once
   * `signal` aborts no attempt is scheduled or started: a failure after the abort is rethrown as
   * it is, and an abort during the wait rejects with the signal's reason.
   */
  async retryAfterFailure<T>(
    run: (attempt: number) => Promise<T>,
    error: unknown,
    signal?: AbortSignal,
  ): Promise<T> {
    let previous = 0;
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw error;
      const delay = this.nextDelay(error, attempt, previous);
      if (delay === undefined) throw this.giveUp(error, attempt);
      if (!(await this.budgetAllows(error))) throw error;
      this.reportScheduled(error, attempt, delay);
      await this.clock.sleep(delay, signal);
      // A clock that ignores the signal still must not start another attempt.
      if (signal?.aborted) throw signal.reason;
      previous = delay;
      try {
        return await run(attempt + 1);
      } catch (next) {
        error = next;
      }
    }
  }

  /** Emits the retry event; called before the wait so fake timers can observe it. */
  reportScheduled(error: unknown, attempt: number, delayMs: number): void {
    if (this.events.active) {
      this.events.emit({ type: 'retry.scheduled', policy: this.name, attempt, delayMs, error });
    }
  }

  /** Returns the error unchanged, reporting exhaustion when the attempts ran out. */
  giveUp(error: unknown, attempts: number): unknown {
    if (attempts >= this.options.maxAttempts && attempts > 1 && wantsNotable(this.events)) {
      this.events.emit({ type: 'retry.gave-up', policy: this.name, attempts, error });
    }
    return error;
  }

  /** A `retryOn` that throws means "do not retry": the call's own error is what the caller gets. */
  private shouldRetry(error: unknown, attempt: number): boolean {
    try {
      return this.options.retryOn(error, attempt);
    } catch {
      return false;
    }
  }

  private jittered(delay: number, previous: number): number {
    switch (this.options.jitter) {
      case 'none':
        return delay;
      case 'full':
        return Math.floor(this.random() * delay);
      case 'equal':
        return Math.floor(delay / 2 + (this.random() * delay) / 2);
      case 'decorrelated': {
        const base = this.options.baseDelayMs;
        const upper = Math.max(base, (previous || base) * 3);
        return Math.min(this.options.maxDelayMs, Math.floor(base + this.random() * (upper - base)));
      }
    }
  }
}

/**
 * Runs one attempt as a Promise; a synchronous throw becomes a rejection. `Promise.resolve`
 * adopts a native promise as it is, where `new Promise(r => r(p))` would cost two extra ticks.
 */
function runAttempt<T>(fn: (attempt: number) => T | Promise<T>, n: number): Promise<T> {
  try {
    return Promise.resolve(fn(n));
  } catch (error) {
    return Promise.reject(error);
  }
}
