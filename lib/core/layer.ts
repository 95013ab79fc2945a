import {
  asyncIterableToObservable,
  isAsyncIterable,
  isObservable,
  observableToAsyncIterable,
} from './streams.js';
import { InvalidOptionsError } from './invalid-options.error.js';
import type { ReturnKind } from './return-kind.js';

/** One invocation travelling through a chain of layers. */
export interface Call {
  readonly self: unknown;
  readonly args: unknown[];
  /**
   * Aborts when the caller gave up on this call (a pipeline run's signal or timeout, or the
   * signal a caller passed in a method's `@Signal()` argument); below a timeout, the attempt's
   * signal. Policies then stop working for it: retry schedules no more attempts, the breaker
   * does not count the outcome, a queued backpressure waiter leaves the queue.
   */
  readonly signal?: AbortSignal;
  /**
   * True when the method returns a stream (AsyncIterable or Observable). Dedupe keeps streams and
   * single results apart, so a stream never joins (or skips a slot for) a promise execution.
   */
  readonly stream?: boolean;
  /** Set by the dedupe layer, so that a peek from an outer layer and the call hash once. */
  dedupeKey?: string;
  /**
   * Set by the dedupe layer when this call leads a shared stream: settles when the shared
   * execution ends, which may be after this caller stopped reading. An outer backpressure slot
   * is held until then, so the execution never runs outside the cap.
   */
  sharedExecution?: Promise<void>;
}

/** The rest of a chain, as seen by one layer: the next layer, or the method itself. */
export interface Step {
  promise(call: Call): Promise<unknown>;
  stream(call: Call): AsyncIterable<unknown>;
  /** True when the call will be answered by a shared execution or a cache, not a new one. */
  answersWithoutExecution(call: Call): boolean;
}

/**
 * One policy (retry, breaker, dedupe, backpressure) applied around the rest of a chain. A
 * layer decides before it calls `next`, so a rejected call never starts the method.
 */
export interface Layer {
  promise(next: Step, call: Call): Promise<unknown>;
  stream(next: Step, call: Call): AsyncIterable<unknown>;
  answersWithoutExecution?(next: Step, call: Call): boolean;
}

class LayerStep implements Step {
  constructor(
    private readonly layer: Layer,
    private readonly next: Step,
  ) {}

  promise(call: Call): Promise<unknown> {
    return this.layer.promise(this.next, call);
  }

  stream(call: Call): AsyncIterable<unknown> {
    return this.layer.stream(this.next, call);
  }

  answersWithoutExecution(call: Call): boolean {
    return this.layer.answersWithoutExecution?.(this.next, call) ?? false;
  }
}

/** How a chain calls its target. */
export interface TargetOptions {
  /** The argument that receives each attempt's signal (`@Signal()`), or -1. */
  readonly signalIndex?: number;
  /**
   * Set for decorated methods (`Class.method`): a plain method that returns an Observable its
   * declaration did not announce is refused, since guarding it as one value would hide it.
   * Pipeline stages leave it unset: a stage may hand a stream on as a value.
   */
  readonly method?: string;
}

/** The innermost step: calls the method and normalises what it returns to the chain's kind. */
class TargetStep implements Step {
  private readonly signalIndex: number;
  private readonly method: string | undefined;

  constructor(
    private readonly target: Function,
    options: TargetOptions,
  ) {
    this.signalIndex = options.signalIndex ?? -1;
    this.method = options.method;
  }

  promise(call: Call): Promise<unknown> {
    try {
      const result = this.target.apply(call.self, this.argsOf(call));
      if (result instanceof Promise) return result;
      if (this.method !== undefined && isObservable(result)) throw this.undeclaredObservable();
      return Promise.resolve(result);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  stream(call: Call): AsyncIterable<unknown> {
    const result: unknown = this.target.apply(call.self, this.argsOf(call));
    if (isAsyncIterable(result)) return result;
    if (isObservable(result)) return observableToAsyncIterable(result);
    throw new TypeError(
      `${this.target.name || 'method'} should return an AsyncIterable or an Observable, got ${typeof result}`,
    );
  }

  answersWithoutExecution(): boolean {
    return false;
  }

  /** The method's arguments, with the attempt's signal in its `@Signal()` parameter. */
  private argsOf(call: Call): unknown[] {
    const index = this.signalIndex;
    if (index < 0) return call.args;
    const args = call.args.slice();
    while (args.length < index) args.push(undefined);
    // Every attempt gets a signal, even when nothing can abort it.
    args[index] = call.signal ?? new AbortController().signal;
    return args;
  }

  private undeclaredObservable(): InvalidOptionsError {
    return new InvalidOptionsError(
      this.method!,
      'returned an Observable, but its declaration does not say so, so it was guarded as one value; declare the return type `: Observable<T>` so the stream itself is guarded',
    );
  }
}

/** A compiled chain: built once at bootstrap, then invoked on every call. */
export class Chain {
  private readonly entry: Step;

  private readonly signalIndex: number;

  constructor(
    layers: readonly Layer[],
    target: Function,
    readonly kind: ReturnKind,
    options: TargetOptions = {},
  ) {
    this.signalIndex = options.signalIndex ?? -1;
    let step: Step = new TargetStep(target, options);
    for (let i = layers.length - 1; i >= 0; i--) step = new LayerStep(layers[i], step);
    this.entry = step;
  }

  invoke(self: unknown, args: unknown[]): unknown {
    if (this.signalIndex >= 0) return this.invokeWithSignal(self, args);
    if (this.kind === 'promise') return this.entry.promise({ self, args });
    if (this.kind === 'iterable') return this.entry.stream({ self, args, stream: true });
    return this.observable(self, args);
  }

  /**
   * A method with `@Signal()`: what the caller passed there, if it is an AbortSignal, is the
   * call's signal (anything else, a transport's payload or `undefined`, means none).
   */
  private invokeWithSignal(self: unknown, args: unknown[]): unknown {
    const given = args[this.signalIndex];
    const signal = given instanceof AbortSignal ? given : undefined;
    if (this.kind === 'promise') return this.entry.promise({ self, args, signal });
    if (this.kind === 'iterable') return this.entry.stream({ self, args, signal, stream: true });
    return asyncIterableToObservable(() => this.entry.stream({ self, args, signal, stream: true }));
  }

  /**
   * Each subscription runs the layers again: the Observable stays cold. A method of its own
   * because a closure inside `invoke` would make V8 allocate a context on every call, whatever
   * the kind.
   */
  private observable(self: unknown, args: unknown[]): unknown {
    return asyncIterableToObservable(() => this.entry.stream({ self, args, stream: true }));
  }

  /**
   * Runs a promise chain; used by pipelines and primitives that never need the other kinds.
   * `signal`, when given, tells the layers that the caller gave up (see `Call.signal`).
   */
  run(self: unknown, args: unknown[], signal?: AbortSignal): Promise<unknown> {
    return this.entry.promise({ self, args, signal });
  }
}
