import type { CallOutcomeKind, EventSink } from './events.js';
import type { Call, Layer, Step } from './layer.js';
import { isOrchestratorError } from './orchestrator.error.js';
import type { PolicySpec } from './protected-method.js';
import { returnUpstream } from './streams.js';

/** The library's refusals: the call never ran (or ran no further) because a policy said no. */
const REFUSALS: ReadonlySet<string> = new Set([
  'CIRCUIT_OPEN',
  'BACKPRESSURE_SHED',
  'RATE_LIMITED',
]);

/** How a failed call is reported: refused by a policy, or failed. */
export function outcomeOfError(error: unknown): CallOutcomeKind {
  return isOrchestratorError(error) && REFUSALS.has(error.code) ? 'rejected' : 'failure';
}

/** The policy a method's calls are reported under: its first named policy, else its own id. */
export function reportedPolicy(specs: readonly PolicySpec[], owner: string): string {
  for (const spec of specs) if (typeof spec.ref === 'string') return spec.ref;
  return owner;
}

/**
 * The outermost layer of a method's chain while call observation is on: times each call
 * (a stream from its first read to its end) and reports `call.finished`. Never added
 * otherwise, so a call pays nothing for observation that nobody asked for.
 */
export class CallObserverLayer implements Layer {
  constructor(
    private readonly method: string,
    private readonly policy: string,
    private readonly events: EventSink,
  ) {}

  promise(next: Step, call: Call): Promise<unknown> {
    const started = performance.now();
    return next.promise(call).then(
      (value) => {
        this.report('success', started);
        return value;
      },
      (error: unknown) => {
        this.report(outcomeOfError(error), started);
        throw error;
      },
    );
  }

  stream(next: Step, call: Call): AsyncIterable<unknown> {
    return { [Symbol.asyncIterator]: () => new ObservedIterator(this, next, call) };
  }

  answersWithoutExecution(next: Step, call: Call): boolean {
    return next.answersWithoutExecution(call);
  }

  /** Reports one finished call, if anybody listens. */
  report(outcome: CallOutcomeKind, started: number): void {
    if (!this.events.active) return;
    this.events.emit({
      type: 'call.finished',
      method: this.method,
      policy: this.policy,
      outcome,
      durationMs: performance.now() - started,
    });
  }
}

/**
 * A stream, opened at its first read, whose end (completion, error, or the consumer leaving)
 * is reported once.
 */
class ObservedIterator implements AsyncIterator<unknown> {
  private inner: AsyncIterator<unknown> | undefined;
  private started = 0;
  private reading = false;
  private done = false;

  constructor(
    private readonly layer: CallObserverLayer,
    private readonly step: Step,
    private readonly call: Call,
  ) {}

  async next(): Promise<IteratorResult<unknown>> {
    if (this.done) return { done: true, value: undefined };
    this.reading = true;
    try {
      if (this.inner === undefined) {
        this.started = performance.now();
        this.inner = this.step.stream(this.call)[Symbol.asyncIterator]();
      }
      const result = await this.inner.next();
      if (result.done) this.finish('success');
      return result;
    } catch (error) {
      this.finish(outcomeOfError(error));
      throw error;
    } finally {
      this.reading = false;
    }
  }

  return(value?: unknown): Promise<IteratorResult<unknown>> {
    // A consumer that leaves early ends the call without a failure.
    if (this.inner !== undefined) this.finish('success');
    this.done = true;
    return returnUpstream(this.inner, this.reading, value);
  }

  private finish(outcome: CallOutcomeKind): void {
    if (this.done) return;
    this.done = true;
    this.layer.report(outcome, this.started);
  }
}
