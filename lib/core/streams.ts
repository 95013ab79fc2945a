import { Observable } from 'rxjs';

/**
 * Reads a cold Observable as an AsyncIterable: subscribes on the first `next()`, buffers what
 * arrives between reads, and unsubscribes when the consumer stops (`return()`).
 */
export function observableToAsyncIterable<T>(source: Observable<T>): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      return new ObservableIterator(source);
    },
  };
}

class ObservableIterator<T> implements AsyncIterator<T> {
  private readonly buffer: IteratorResult<T>[] = [];
  private readonly readers: Array<{
    resolve: (r: IteratorResult<T>) => void;
    reject: (e: unknown) => void;
  }> = [];
  private subscription?: { unsubscribe(): void };
  private failure?: { error: unknown };
  private finished = false;

  constructor(private readonly source: Observable<T>) {}

  next(): Promise<IteratorResult<T>> {
    // Never subscribes after `return()`: a consumer that left before reading starts nothing.
    if (this.subscription === undefined && !this.finished) this.subscribe();
    const buffered = this.buffer.shift();
    if (buffered) return Promise.resolve(buffered);
    if (this.failure) return Promise.reject(this.failure.error);
    if (this.finished) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.readers.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<T>> {
    this.finished = true;
    this.subscription?.unsubscribe();
    this.buffer.length = 0;
    for (const reader of this.readers.splice(0)) reader.resolve({ value: undefined, done: true });
    return Promise.resolve({ value: undefined, done: true });
  }

  private subscribe(): void {
    this.subscription = this.source.subscribe({
      next: (value) => this.push({ value, done: false }),
      error: (error) => this.fail(error),
      complete: () => this.push({ value: undefined, done: true }),
    });
  }

  private push(result: IteratorResult<T>): void {
    if (this.finished) return;
    if (result.done) this.finished = true;
    const reader = this.readers.shift();
    if (reader) reader.resolve(result);
    else this.buffer.push(result);
  }

  private fail(error: unknown): void {
    if (this.finished) return;
    this.finished = true;
    const reader = this.readers.shift();
    if (reader) reader.reject(error);
    else this.failure = { error };
  }
}

/**
 * Exposes an AsyncIterable as a cold Observable: each subscription starts a fresh iteration
 * (so retry re-subscribes), and unsubscribing ends the iteration with `return()`.
 */
export function asyncIterableToObservable<T>(open: () => AsyncIterable<T>): Observable<T> {
  return new Observable<T>((subscriber) => {
    let iterator: AsyncIterator<T> | undefined;
    let closed = false;
    const pump = async () => {
      iterator = open()[Symbol.asyncIterator]();
      for (;;) {
        const result = await iterator.next();
        if (closed) return;
        if (result.done) return subscriber.complete();
        subscriber.next(result.value);
        if (closed) return; // unsubscribed from inside `next` (take(1)): read no further
      }
    };
    pump().catch((error) => {
      if (!closed) subscriber.error(error);
    });
    return () => {
      if (closed) return;
      closed = true;
      // Called at once, even mid-`next()`: the chain's iterators forward it upstream right away
      // (an async generator would queue it until its next `yield`).
      if (iterator?.return === undefined) return;
      try {
        Promise.resolve(iterator.return()).catch(() => undefined);
      } catch {
        // a broken upstream teardown must not break the unsubscribe
      }
    };
  });
}

export function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as any)[Symbol.asyncIterator] === 'function'
  );
}

export function isObservable(value: unknown): value is Observable<unknown> {
  return (
    value instanceof Observable ||
    (value !== null &&
      typeof value === 'object' &&
      typeof (value as any).subscribe === 'function' &&
      typeof (value as any).pipe === 'function')
  );
}

/**
 * Ends an upstream iterator when its consumer leaves (`return()`). An idle upstream (a generator
 * paused at a `yield`) cleans up first, as a generator would; one stuck in a read (`reading`)
 * may not answer before its next item, so it is not waited for.
 */
export function returnUpstream(
  inner: AsyncIterator<unknown> | undefined,
  reading: boolean,
  value?: unknown,
): Promise<IteratorResult<unknown>> {
  const finished = { done: true, value } as IteratorResult<unknown>;
  if (inner?.return === undefined) return Promise.resolve(finished);
  let ended: Promise<unknown>;
  try {
    ended = Promise.resolve(inner.return()).catch(() => undefined);
  } catch {
    return Promise.resolve(finished);
  }
  return reading ? Promise.resolve(finished) : ended.then(() => finished);
}
