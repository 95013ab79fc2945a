import { DeadlineEntry, type DeadlineQueue } from '../core/deadline-queue.js';
import type { Call, Step } from '../core/layer.js';
import { returnUpstream } from '../core/streams.js';
import { AttemptCall } from './attempt-call.js';
import type { TimeoutPhase } from './timeout.error.js';

/** What a timed stream needs from its layer: the deadline queues and how to build the error. */
export interface StreamDeadlines {
  readonly calls: DeadlineQueue;
  readonly firstItems: DeadlineQueue | undefined;
  readonly gaps: DeadlineQueue | undefined;
  timeoutError(phase: TimeoutPhase): Error;
}

const DONE: IteratorResult<unknown> = { done: true, value: undefined };

interface Reader {
  resolve(result: IteratorResult<unknown>): void;
  reject(error: unknown): void;
}

/** One of a stream's deadlines; tells its stream which limit expired. */
class StreamDeadline extends DeadlineEntry {
  constructor(
    private readonly stream: TimedIterator,
    readonly phase: TimeoutPhase,
  ) {
    super();
  }

  expire(): void {
    this.stream.expired(this.phase);
  }
}

/**
 * A stream bounded by the layer's limits. It opens the rest of the chain at the first `next()`;
 * `ms` then runs until the stream ends, whether or not the consumer is reading. `firstItemMs`
 * runs while the consumer waits for the first item, `idleMs` while it waits for each later one
 * (a slow consumer is not the source's fault). On expiry the attempt's signal aborts with the
 * `TimeoutError`, the source is told to stop (`return()`, which unsubscribes an Observable), and
 * the pending `next()` rejects with the error at once; with none pending, the next one does.
 *
 * Not a GuardedIterator: that base awaits the upstream's `next()`, and a deadline must answer
 * the pending `next()` while that read is still outstanding (and drop its late answer). Racing
 * each read against the deadlines would cost an allocation per item, so reads are answered
 * from a queue of waiting readers instead; `return()` still goes through `returnUpstream`.
 */
export class TimedIterator implements AsyncIterator<unknown> {
  private inner: AsyncIterator<unknown> | undefined;
  private attempt: AttemptCall | undefined;
  private readonly readers: Reader[] = [];
  private whole: StreamDeadline | undefined;
  private gap: StreamDeadline | undefined;
  private started = false;
  private closed = false;
  /** A timeout or abort that came while nobody was reading: the next `next()` throws it. */
  private failure: { error: unknown } | undefined;

  constructor(
    private readonly layer: StreamDeadlines,
    private readonly step: Step,
    private readonly call: Call,
  ) {}

  next(): Promise<IteratorResult<unknown>> {
    const failure = this.failure;
    if (failure !== undefined) {
      this.failure = undefined;
      return Promise.reject(failure.error);
    }
    if (this.closed) return Promise.resolve(DONE);
    let inner = this.inner;
    if (inner === undefined) {
      try {
        inner = this.open();
      } catch (error) {
        this.finish();
        return Promise.reject(error);
      }
    }
    this.startGap();
    const read = new Promise<IteratorResult<unknown>>((resolve, reject) =>
      this.readers.push({ resolve, reject }),
    );
    inner.next().then(
      (result) => this.delivered(result),
      (error) => this.failed(error),
    );
    return read;
  }

  return(value?: unknown): Promise<IteratorResult<unknown>> {
    if (this.closed) return Promise.resolve({ done: true, value });
    const reading = this.readers.length > 0;
    this.finish();
    for (const reader of this.readers.splice(0)) reader.resolve(DONE);
    return returnUpstream(this.inner, reading, value);
  }

  /** Called by a deadline. */
  expired(phase: TimeoutPhase): void {
    if (!this.closed) this.stop(this.layer.timeoutError(phase));
  }

  /** The caller's signal aborted (`handleEvent`: the iterator is its own listener). */
  handleEvent(): void {
    if (!this.closed) this.stop(this.call.signal!.reason);
  }

  private open(): AsyncIterator<unknown> {
    const outer = this.call.signal;
    if (outer?.aborted) throw outer.reason;
    const attempt = (this.attempt = new AttemptCall(this.call));
    const inner = this.step.stream(attempt)[Symbol.asyncIterator]();
    this.inner = inner;
    this.whole = new StreamDeadline(this, 'call');
    this.layer.calls.add(this.whole);
    outer?.addEventListener('abort', this);
    return inner;
  }

  /** Arms the wait for the next item, unless a read is already waiting. */
  private startGap(): void {
    if (this.readers.length > 0) return;
    const queue = this.started ? this.layer.gaps : this.layer.firstItems;
    if (queue === undefined) return;
    const phase = this.started ? 'idle' : 'first-item';
    if (this.gap?.phase !== phase) this.gap = new StreamDeadline(this, phase);
    queue.add(this.gap);
  }

  private delivered(result: IteratorResult<unknown>): void {
    if (this.closed) return; // timed out, aborted or left: the late item is dropped
    const reader = this.readers.shift()!;
    if (this.readers.length === 0) this.stopGap();
    if (result.done) this.finish();
    else this.started = true;
    reader.resolve(result);
  }

  private failed(error: unknown): void {
    if (this.closed) return;
    const reader = this.readers.shift()!;
    this.finish();
    reader.reject(error);
  }

  /** Ends the attempt with `error`: the source is told to stop, the readers get the error. */
  private stop(error: unknown): void {
    const reading = this.readers.length > 0;
    this.finish();
    this.attempt?.abort(error);
    returnUpstream(this.inner, reading).catch(() => undefined);
    const readers = this.readers.splice(0);
    if (readers.length === 0) this.failure = { error };
    for (const reader of readers) reader.reject(error);
  }

  private stopGap(): void {
    if (this.gap !== undefined) this.gap.queue?.remove(this.gap);
  }

  private finish(): void {
    this.closed = true;
    this.stopGap();
    if (this.whole !== undefined) this.layer.calls.remove(this.whole);
    this.call.signal?.removeEventListener('abort', this);
  }
}
