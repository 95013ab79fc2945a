import type { Call, Layer, Step } from '../core/layer.js';
import {
  isAsyncIterable,
  isObservable,
  observableToAsyncIterable,
  returnUpstream,
} from '../core/streams.js';
import type { FallbackHandler } from './fallback-handler.js';
import {
  resolveFallbackOptions,
  type FallbackOptions,
  type ResolvedFallbackOptions,
} from './fallback-options.js';
import { StreamInterruptedError } from './stream-interrupted.error.js';

const DONE: IteratorResult<unknown> = { done: true, value: undefined };

/**
 * Replaces a failure of the rest of the chain with what the handler returns. Skipped when
 * `on(error)` says no, and when the caller itself aborted (its `call.signal`): nobody waits
 * for a replacement then. A stream that fails before its first item is replaced by the
 * handler's stream; one that fails later hands the handler a `StreamInterruptedError` and
 * continues with its stream, so the caller reads one uninterrupted stream.
 */
export class FallbackLayer implements Layer {
  readonly options: ResolvedFallbackOptions;

  constructor(
    readonly handler: FallbackHandler,
    options?: FallbackOptions,
    scope = 'FallbackLayer',
  ) {
    this.options = resolveFallbackOptions(options, scope);
  }

  promise(next: Step, call: Call): Promise<unknown> {
    return next.promise(call).then(undefined, (error) => this.recover(error, call));
  }

  stream(next: Step, call: Call): AsyncIterable<unknown> {
    return { [Symbol.asyncIterator]: () => new FallbackIterator(this, next, call) };
  }

  answersWithoutExecution(next: Step, call: Call): boolean {
    return next.answersWithoutExecution(call);
  }

  /** True when this failure should be replaced. */
  appliesTo(error: unknown, call: Call): boolean {
    return call.signal?.aborted !== true && this.options.on(error);
  }

  /** The handler's result (a returned Promise is followed by `then`), or the error again. */
  private recover(error: unknown, call: Call): unknown {
    if (!this.appliesTo(error, call)) throw error;
    return this.handler(call.self, error, call.args);
  }
}

/**
 * Reads the rest of the chain and, on a failure the layer applies to, switches once to the
 * handler's stream. Hand-written for the same reason as the retry layer's: `return()` must
 * reach the running source at once, even mid-read.
 */
class FallbackIterator implements AsyncIterator<unknown> {
  private inner: AsyncIterator<unknown> | undefined;
  private delivered = 0;
  private fellBack = false;
  private reading = false;
  private closed = false;

  constructor(
    private readonly layer: FallbackLayer,
    private readonly step: Step,
    private readonly call: Call,
  ) {}

  async next(): Promise<IteratorResult<unknown>> {
    for (;;) {
      if (this.closed) return DONE;
      let result: IteratorResult<unknown>;
      try {
        const inner = (this.inner ??= this.step.stream(this.call)[Symbol.asyncIterator]());
        this.reading = true;
        try {
          result = await inner.next();
        } finally {
          this.reading = false;
        }
      } catch (error) {
        if (this.closed) return DONE;
        await this.switchToFallback(error);
        continue;
      }
      if (this.closed) return DONE;
      if (result.done) this.closed = true;
      else this.delivered++;
      return result;
    }
  }

  return(value?: unknown): Promise<IteratorResult<unknown>> {
    if (this.closed) return Promise.resolve({ done: true, value });
    this.closed = true;
    const inner = this.inner;
    this.inner = undefined;
    return returnUpstream(inner, this.reading, value);
  }

  /** Opens the handler's stream in place of the failed one, or throws the failure on. */
  private async switchToFallback(error: unknown): Promise<void> {
    this.inner = undefined;
    if (this.fellBack || !this.layer.appliesTo(error, this.call)) {
      this.closed = true;
      throw error;
    }
    this.fellBack = true;
    const reason = this.delivered === 0 ? error : new StreamInterruptedError(error, this.delivered);
    let replacement: AsyncIterator<unknown>;
    try {
      replacement = iteratorOf(await this.layer.handler(this.call.self, reason, this.call.args));
    } catch (failure) {
      this.closed = true;
      throw failure;
    }
    // The consumer left while the handler was working: its stream is not wanted.
    if (this.closed) void returnUpstream(replacement, false);
    else this.inner = replacement;
  }
}

function iteratorOf(stream: unknown): AsyncIterator<unknown> {
  if (isAsyncIterable(stream)) return stream[Symbol.asyncIterator]();
  if (isObservable(stream)) return observableToAsyncIterable(stream)[Symbol.asyncIterator]();
  throw new TypeError(
    `a fallback for a stream should return an AsyncIterable or an Observable, got ${typeof stream}`,
  );
}
