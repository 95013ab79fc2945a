import type { SharedAbort } from './shared-abort.js';

/**
 * A finished stream's items as a dedupe store caches them; a cache hit replays them in order.
 *
 * @publicApi
 */
export class RecordedStream {
  constructor(readonly items: readonly unknown[]) {}
}

/** How a shared stream ended, reported once to its owner. */
export type StreamEnding =
  | { readonly kind: 'complete'; readonly items: readonly unknown[] | undefined }
  | { readonly kind: 'error'; readonly error: unknown }
  | { readonly kind: 'abandoned' };

export interface StreamFlightHooks {
  /** Opens the source: a claim decides between a cached replay and a new execution. */
  open(flight: StreamFlight): Promise<AsyncIterator<unknown>>;
  /** The stream grew past the replay limit: later callers must start their own execution. */
  closeToJoiners(flight: StreamFlight): void;
  ended(flight: StreamFlight, ending: StreamEnding): void;
}

const DONE: IteratorResult<unknown> = { done: true, value: undefined };

/**
 * One execution of a stream shared by every consumer: a replay buffer gives each consumer
 * every item from the first, in order, however late it joins. The source is pulled at the pace
 * of the fastest consumer, and cancelled only when every consumer has left, so one consumer
 * stopping early never cuts the others off. An error reaches every consumer after the items
 * that preceded it.
 */
export class StreamFlight {
  joinable = true;
  /** Set by the owner: participants' signals, fused. */
  abort?: SharedAbort;
  /** Settles when the execution ends: finished, failed or abandoned by every consumer. */
  readonly ended: Promise<void>;
  private readonly items: unknown[] = [];
  /** The sequence index of `items[0]`; above 0 only once items read by all are dropped. */
  private base = 0;
  private over = false;
  private failure: { error: unknown } | undefined;
  private readonly cursors = new Set<StreamCursor>();
  private source: AsyncIterator<unknown> | undefined;
  private pulling: Promise<void> | undefined;
  private markEnded!: () => void;

  constructor(
    private readonly hooks: StreamFlightHooks,
    private readonly replayLimit: number,
  ) {
    this.ended = new Promise((resolve) => (this.markEnded = resolve));
  }

  get isOver(): boolean {
    return this.over;
  }

  attach(): StreamCursor {
    const cursor = new StreamCursor(this);
    this.cursors.add(cursor);
    return cursor;
  }

  /** @internal The next item for `cursor`, pulling the source when no buffered item is left. */
  async read(cursor: StreamCursor): Promise<IteratorResult<unknown>> {
    for (;;) {
      if (cursor.closed) return DONE;
      const index = cursor.position - this.base;
      if (index < this.items.length) {
        cursor.position++;
        return { value: this.items[index], done: false };
      }
      if (this.failure) throw this.failure.error;
      if (this.over) return DONE;
      await (this.pulling ??= this.pull());
    }
  }

  /** @internal A consumer left; the last one to leave cancels the source. */
  detach(cursor: StreamCursor): void {
    if (!this.cursors.delete(cursor)) return;
    if (this.cursors.size === 0 && !this.over) return this.abandon();
    if (!this.joinable) this.dropReadItems();
  }

  private async pull(): Promise<void> {
    try {
      this.source ??= await this.hooks.open(this);
      if (this.over) return;
      const result = await this.source.next();
      if (this.over) return;
      if (result.done)
        this.end({ kind: 'complete', items: this.joinable ? this.items : undefined });
      else this.push(result.value);
    } catch (error) {
      if (this.over) return;
      this.failure = { error };
      this.end({ kind: 'error', error });
    } finally {
      this.pulling = undefined;
    }
  }

  private push(item: unknown): void {
    this.items.push(item);
    if (this.joinable && this.items.length > this.replayLimit) {
      this.joinable = false;
      this.hooks.closeToJoiners(this);
    }
    if (!this.joinable) this.dropReadItems();
  }

  /** Once closed to joiners, keeps only the items some consumer has yet to read. */
  private dropReadItems(): void {
    let lowest = Infinity;
    for (const cursor of this.cursors) lowest = Math.min(lowest, cursor.position);
    const read = Math.min(lowest, this.base + this.items.length) - this.base;
    if (read <= 0) return;
    this.items.splice(0, read);
    this.base += read;
  }

  private abandon(): void {
    this.end({ kind: 'abandoned' });
    const source = this.source;
    if (source?.return) Promise.resolve(source.return()).catch(() => undefined);
  }

  private end(ending: StreamEnding): void {
    this.over = true;
    this.joinable = false;
    this.hooks.ended(this, ending);
    this.markEnded();
  }
}

/** One consumer's position in a shared stream. */
export class StreamCursor implements AsyncIterator<unknown> {
  position = 0;
  closed = false;

  constructor(private readonly flight: StreamFlight) {}

  next(): Promise<IteratorResult<unknown>> {
    return this.flight.read(this);
  }

  return(value?: unknown): Promise<IteratorResult<unknown>> {
    if (!this.closed) {
      this.closed = true;
      this.flight.detach(this);
    }
    return Promise.resolve({ done: true, value });
  }
}

/**
 * Defers `start` to the first `next()`, as an async generator would: a stream decides (and
 * starts work) only when someone reads it.
 *
 * Not a GuardedIterator: it guards nothing per item, and hands the upstream's own promise
 * through; the base's `await` of each read would add a turn per item. Its `return()` forwards
 * to a cursor (whose `return()` never waits) or, for a key whose running flight is of the other
 * kind, to the rest of the chain, whose guarding layers never wait mid-read either.
 */
export class LazyIterator implements AsyncIterator<unknown> {
  private inner: AsyncIterator<unknown> | undefined;
  private closed = false;

  constructor(private readonly start: () => AsyncIterator<unknown>) {}

  next(): Promise<IteratorResult<unknown>> {
    if (this.closed) return Promise.resolve(DONE);
    try {
      this.inner ??= this.start();
    } catch (error) {
      this.closed = true;
      return Promise.reject(error);
    }
    return this.inner.next();
  }

  return(value?: unknown): Promise<IteratorResult<unknown>> {
    this.closed = true;
    const inner = this.inner;
    if (inner?.return) return inner.return(value);
    return Promise.resolve({ done: true, value });
  }
}
