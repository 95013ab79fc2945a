import { isPromiseLike } from './maybe-promise.js';
import { returnUpstream } from './streams.js';

const DONE: IteratorResult<unknown> = { done: true, value: undefined };

/** What `open()` hands back: the upstream, or nothing when the consumer left while it opened. */
export type Opened = AsyncIterator<unknown> | undefined;

/**
 * The skeleton of a layer that guards a stream: it opens the rest of the chain at the first
 * `next()` (a stream nobody reads costs nothing), reads it one item at a time, and ends exactly
 * once: completed (`onDone`), failed (`onError` declines to go on) or left by its consumer
 * (`onAbandon`). Whichever comes first wins; the others are never called after it.
 *
 * Hand-written rather than an async generator: a generator queues `return()` until its next
 * `yield`, so a consumer that left during a stalled read, an admission or a backoff would not be
 * let go (nor its slot, probe or reservation freed) until another item came. Here `return()`
 * ends the stream and reaches the upstream at once, even while a `next()` is pending; that
 * `next()` resolves done when the upstream answers it (its `return()` usually makes it).
 *
 * Per item it costs what a hand-written `async next()` costs: one await of the upstream's
 * `next()`, no allocation of its own.
 */
export abstract class GuardedIterator implements AsyncIterator<unknown> {
  private ended = false;
  private inner: AsyncIterator<unknown> | undefined;
  private opening: Promise<Opened> | undefined;
  /** True while a `next()` of the upstream is pending. */
  private reading = false;

  /** True once the stream ended, however it ended: a subclass's async step checks it. */
  protected get closed(): boolean {
    return this.ended;
  }

  /**
   * Opens the rest of the chain, once per attempt: after admission, a slot or a reservation
   * when it is async. Answers undefined when the consumer left meanwhile (`closed`), having
   * given back what it took. A throw goes to `onError`, as an upstream failure does.
   */
  protected abstract open(): Opened | Promise<Opened>;

  /** The upstream delivered an item. */
  protected onItem(_value: unknown): void {}

  /** The upstream completed: the stream ends here. */
  protected onDone(): void {}

  /**
   * Opening or reading the upstream failed. Answers true to open again (a retry, a fallback's
   * stream), false to end the stream with `error`; a throw ends it with that error instead.
   * Not called once the consumer left: the failure of an abandoned stream is moot.
   */
  protected onError(_error: unknown): boolean | Promise<boolean> {
    return false;
  }

  /** The consumer left (`return()`, `throw()`) before the stream ended. */
  protected onAbandon(): void {}

  async next(): Promise<IteratorResult<unknown>> {
    for (;;) {
      if (this.ended) return DONE;
      let result: IteratorResult<unknown>;
      try {
        let inner = this.inner;
        if (inner === undefined) {
          const opened = this.opened();
          inner = isPromiseLike(opened) ? await opened : opened;
          if (inner === undefined) return DONE; // left while it opened
        }
        // No `finally`: it would enlarge every call's frame, and this is the per-item path.
        this.reading = true;
        result = await inner.next();
        this.reading = false;
      } catch (error) {
        this.reading = false;
        if (this.ended) return DONE; // the consumer left: what the upstream does now is moot
        const again = this.decide(error);
        if (isPromiseLike(again) ? await again : again) continue;
        return DONE; // left while `onError` decided
      }
      if (this.ended) return DONE;
      if (result.done) this.end().onDone();
      else this.onItem(result.value);
      return result;
    }
  }

  return(value?: unknown): Promise<IteratorResult<unknown>> {
    if (this.ended) return Promise.resolve({ done: true, value });
    const inner = this.inner;
    const reading = this.reading;
    this.end().onAbandon();
    return returnUpstream(inner, reading, value);
  }

  /** A consumer that throws into the stream leaves it, as with `return()`; the error comes back. */
  throw(error?: unknown): Promise<IteratorResult<unknown>> {
    return this.return().then(() => Promise.reject(error));
  }

  /**
   * The upstream, opened once however many `next()` calls wait for it. A synchronous `open()`
   * costs no extra turn.
   */
  private opened(): Opened | Promise<Opened> {
    if (this.opening !== undefined) return this.opening;
    const opened = this.open();
    if (!isPromiseLike(opened)) return this.keep(opened);
    const opening = (this.opening = opened.then(
      (inner) => this.keep(inner),
      (error: unknown) => {
        this.opening = undefined;
        throw error;
      },
    ));
    return opening;
  }

  private keep(inner: Opened): Opened {
    this.opening = undefined;
    if (inner === undefined) return undefined;
    if (this.ended) {
      void returnUpstream(inner, false); // opened after the consumer left: not wanted
      return undefined;
    }
    return (this.inner = inner);
  }

  /**
   * True when `onError` opens again, false when the consumer left meanwhile; ends the stream
   * and throws when `onError` declines. A synchronous answer costs no extra turn.
   */
  private decide(error: unknown): boolean | Promise<boolean> {
    this.inner = undefined;
    let decided: boolean | Promise<boolean>;
    try {
      decided = this.onError(error);
    } catch (failure) {
      this.end();
      throw failure;
    }
    if (!isPromiseLike(decided)) return this.decided(decided, error);
    return decided.then(
      (again) => this.decided(again, error),
      (failure: unknown) => {
        if (this.ended) return false;
        this.end();
        throw failure;
      },
    );
  }

  private decided(again: boolean, error: unknown): boolean {
    if (this.ended) return false;
    if (again) return true;
    this.end();
    throw error;
  }

  private end(): this {
    this.ended = true;
    this.inner = undefined;
    return this;
  }
}
