import type { PolicyOptions } from '../kinds/policy-kinds.js';

/**
 * What each stage receives next to its input.
 *
 * @publicApi
 * @example
 * pipeline.addStage('infer', (prompt, ctx) => client.chat(prompt, { signal: ctx.signal }));
 */
export interface StageContext {
  /** The pipeline's name. */
  readonly pipeline: string;
  /** This stage's name. */
  readonly stage: string;
  /** This stage's position, from 0. */
  readonly index: number;
  /**
   * Aborts when the caller's `signal` aborts or the run's `timeoutMs` elapses. Pass it on to
   * `fetch` or an SDK so that abandoned work stops; the run itself rejects at once either way.
   */
  readonly signal: AbortSignal;
}

/**
 * A stage's transform: sync or async. The last stage may return an `AsyncIterable` (a token
 * stream), which `run` hands back as it is.
 *
 * @publicApi
 * @example
 * const upper: StageFn<string, string> = (text) => text.toUpperCase();
 */
export type StageFn<In, Out> = (input: In, ctx: StageContext) => Out | PromiseLike<Out>;

/**
 * Options of `addStage`.
 *
 * @publicApi
 * @example
 * pipeline.addStage('infer', infer, { policy: { retry: { maxAttempts: 3 } } });
 */
export interface StageOptions {
  /**
   * A named policy of `OrchestratorModule.forRoot({ policies })`, or inline policy options. Its
   * sections wrap this stage alone, backpressure > dedupe > circuitBreaker > retry (outermost
   * first), and share state with decorators that use the same names. Without a `name`, an inline
   * section's state is kept under `<pipeline>.<stage>`.
   */
  policy?: string | PolicyOptions;
}

/**
 * Options of `run` and `executeTimed`.
 *
 * @publicApi
 * @example
 * await pipeline.run(prompt, { signal: request.signal, timeoutMs: 10_000 });
 */
export interface PipelineRunOptions {
  /** Aborts the run: it rejects at once with `PipelineAbortedError`. */
  signal?: AbortSignal;
  /** Aborts the run when it has not finished after this many ms (a number >= 0). */
  timeoutMs?: number;
}

/**
 * Recovers from a failed stage: what it returns (or resolves to) becomes the next stage's input,
 * or the run's output after the last stage. Throw to let the run fail with `PipelineStageError`.
 * One handler serves every stage, so the compiler cannot check that the recovered value fits
 * the next stage: return what that stage expects.
 *
 * @publicApi
 * @example
 * const handler: PipelineErrorHandler = (stage, _error, input) =>
 *   stage === 'retrieve' ? '' : input;
 */
export type PipelineErrorHandler = (stage: string, error: unknown, input: unknown) => unknown;

/**
 * How long one stage took, policies (retries, waits) and error recovery included.
 *
 * @publicApi
 * @example
 * const slowest = result.stageTimings.reduce((a, b) => (b.durationMs > a.durationMs ? b : a));
 */
export interface StageTiming {
  /** The stage's position, from 0. */
  readonly index: number;
  readonly name: string;
  /**
   * Milliseconds with sub-millisecond precision, measured on the application's clock (its
   * `monotonicNow()`; `performance.now()` for the system clock and for `new Pipeline(name)`).
   */
  readonly durationMs: number;
}

/**
 * The result of `executeTimed`.
 *
 * @publicApi
 * @example
 * const { output, stageTimings } = await pipeline.executeTimed(prompt);
 */
export interface TimedPipelineResult<O> {
  readonly output: O;
  /** One entry per stage, in order, recovered stages included. */
  readonly stageTimings: StageTiming[];
}
