import { GuardedIterator } from '../core/guarded-iterator.js';
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
 * handler's stream. `return()` reaches the running source at once, even mid-read, or drops the
 * handler's stream when it comes after the consumer left (see GuardedIterator).
 */
class FallbackIterator extends GuardedIterator {
  private delivered = 0;
  private fellBack = false;
  /** The handler's stream, opened by the next `open()`. */
  private replacement: AsyncIterator<unknown> | undefined;

  constructor(
    private readonly layer: FallbackLayer,
    private readonly step: Step,
    private readonly call: Call,
  ) {
    super();
  }

  protected override open(): AsyncIterator<unknown> {
    const replacement = this.replacement;
    if (replacement === undefined) return this.step.stream(this.call)[Symbol.asyncIterator]();
    this.replacement = undefined;
    return replacement;
  }

  protected override onItem(): void {
    this.delivered++;
  }

  /** Takes the handler's stream in place of the failed one, or lets the failure end the stream. */
  protected override async onError(error: unknown): Promise<boolean> {
    if (this.fellBack || !this.layer.appliesTo(error, this.call)) return false;
    this.fellBack = true;
    const reason = this.delivered === 0 ? error : new StreamInterruptedError(error, this.delivered);
    const replacement = iteratorOf(
      await this.layer.handler(this.call.self, reason, this.call.args),
    );
    // The consumer left while the handler was working: its stream is not wanted.
    if (this.closed) void returnUpstream(replacement, false);
    else this.replacement = replacement;
    return true;
  }
}

function iteratorOf(stream: unknown): AsyncIterator<unknown> {
  if (isAsyncIterable(stream)) return stream[Symbol.asyncIterator]();
  if (isObservable(stream)) return observableToAsyncIterable(stream)[Symbol.asyncIterator]();
  throw new TypeError(
    `a fallback for a stream should return an AsyncIterable or an Observable, got ${typeof stream}`,
  );
}
