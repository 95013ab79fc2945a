import { systemClock, type Clock } from '../core/clock.js';
import { DeadlineEntry, DeadlineQueue } from '../core/deadline-queue.js';
import type { Call, Layer, Step } from '../core/layer.js';
import { withoutStack } from '../core/orchestrator.error.js';
import { AttemptCall } from './attempt-call.js';
import { TimedIterator } from './timed-iterator.js';
import { TimeoutError, type TimeoutPhase } from './timeout.error.js';
import {
  resolveTimeoutOptions,
  type ResolvedTimeoutOptions,
  type TimeoutOptions,
} from './timeout-options.js';

export interface TimeoutRuntime {
  /** Named in `TimeoutError.policy`: the policy name or `ClassName.methodName`. */
  name?: string;
  /** Gives the deadlines; see `DeadlineQueue` for how it drives the timers. */
  clock?: Clock;
}

/**
 * Bounds each attempt of the rest of the chain. Every call through it gets a fresh attempt
 * signal (see `AttemptCall`), linked to the caller's `call.signal`. When the attempt outlives
 * its limit, its signal aborts with a `TimeoutError` and the caller gets that error at once,
 * without waiting for the method: a late result or failure is dropped. When the caller's
 * signal aborts, the attempt aborts with the same reason and the caller gets the reason at
 * once. Written below a retry layer, each attempt gets the full `ms`.
 */
export class TimeoutLayer implements Layer {
  readonly options: ResolvedTimeoutOptions;
  readonly name: string;
  /** Deadlines of `ms` (calls and whole streams), `firstItemMs` and `idleMs`. */
  readonly calls: DeadlineQueue;
  readonly firstItems: DeadlineQueue | undefined;
  readonly gaps: DeadlineQueue | undefined;

  constructor(options: number | TimeoutOptions, runtime: TimeoutRuntime = {}) {
    this.options = resolveTimeoutOptions(options, 'TimeoutLayer');
    this.name = runtime.name ?? 'timeout';
    const clock = runtime.clock ?? systemClock;
    const { ms, firstItemMs, idleMs } = this.options;
    this.calls = new DeadlineQueue(ms, clock);
    this.firstItems = firstItemMs === undefined ? undefined : new DeadlineQueue(firstItemMs, clock);
    this.gaps = idleMs === undefined ? undefined : new DeadlineQueue(idleMs, clock);
  }

  promise(next: Step, call: Call): Promise<unknown> {
    const outer = call.signal;
    if (outer?.aborted) return Promise.reject(outer.reason);
    return new Promise((resolve, reject) => {
      const timed = new TimedPromise(this, new AttemptCall(call), outer, resolve, reject);
      this.calls.add(timed);
      outer?.addEventListener('abort', timed);
      let result: Promise<unknown>;
      try {
        result = next.promise(timed.attempt);
      } catch (error) {
        result = Promise.reject(error);
      }
      result.then(
        (value) => timed.settle(value, true),
        (error) => timed.settle(error, false),
      );
    });
  }

  stream(next: Step, call: Call): AsyncIterable<unknown> {
    return { [Symbol.asyncIterator]: () => new TimedIterator(this, next, call) };
  }

  answersWithoutExecution(next: Step, call: Call): boolean {
    return next.answersWithoutExecution(call);
  }

  /** Built without a stack trace: it would point into the timer, never at the slow call. */
  timeoutError(phase: TimeoutPhase): TimeoutError {
    const { ms, firstItemMs, idleMs } = this.options;
    const limit = phase === 'first-item' ? firstItemMs! : phase === 'idle' ? idleMs! : ms;
    return withoutStack(() => new TimeoutError(this.name, limit, phase));
  }
}

/**
 * One attempt of a promise call: its deadline, the caller's promise, and the listener on the
 * caller's signal (`handleEvent`, so that no closure is allocated for it). Whichever of the
 * result, the deadline and the caller's abort comes first settles the caller's promise; the
 * others then change nothing.
 */
class TimedPromise extends DeadlineEntry {
  private settled = false;

  constructor(
    private readonly layer: TimeoutLayer,
    readonly attempt: AttemptCall,
    private readonly outer: AbortSignal | undefined,
    private readonly resolve: (value: unknown) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    super();
  }

  settle(outcome: unknown, fulfilled: boolean): void {
    if (this.settled) return; // timed out or aborted first: a late outcome is dropped
    this.end();
    if (fulfilled) this.resolve(outcome);
    else this.reject(outcome);
  }

  expire(): void {
    if (this.settled) return;
    this.fail(this.layer.timeoutError('call'));
  }

  /** The caller's signal aborted. */
  handleEvent(): void {
    if (!this.settled) this.fail(this.outer!.reason);
  }

  private fail(reason: unknown): void {
    this.end();
    this.attempt.abort(reason);
    this.reject(reason);
  }

  private end(): void {
    this.settled = true;
    this.layer.calls.remove(this);
    this.outer?.removeEventListener('abort', this);
  }
}
