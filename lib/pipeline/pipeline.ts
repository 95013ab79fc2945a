import { startStopwatch } from '../core/clock.js';
import type { OrchestratorEvent } from '../core/events.js';
import type { Chain } from '../core/layer.js';
import { checkFunction, checkDuration, checkObject, checkString } from '../core/validate.js';
import { PolicyEngine } from '../core/policy-engine.js';
import { PipelineAbortedError } from './pipeline-aborted.error.js';
import { PipelineStageError } from './pipeline-stage.error.js';
import type {
  PipelineErrorHandler,
  PipelineRunOptions,
  StageContext,
  StageFn,
  StageOptions,
  StageTiming,
  TimedPipelineResult,
} from './pipeline.types.js';
import { RunAbortScope } from './run-abort-scope.js';
import { compileStage, describeStage } from './stage-policy.js';

/** A stage as it runs: its name and its chain, compiled once when it was added. */
interface CompiledStage {
  readonly name: string;
  readonly chain: Chain;
}

type StageOutcome = 'success' | 'failure' | 'recovered' | 'aborted';

/** How one stage ended: the value for the next stage, or the error that ends the run. */
type StageResult =
  | { outcome: 'success' | 'recovered'; value: unknown }
  | { outcome: 'failure' | 'aborted'; error: unknown };

/**
 * Named async stages run in order, each stage's output the next stage's input, checked by the
 * compiler. Each builder call returns a new pipeline, so a variable's type always matches its
 * stages. A stage may carry a policy (retry, circuit breaker, dedupe, backpressure) that applies
 * to it alone; a run can be aborted or timed out, and reports its stages on the event stream.
 *
 * Without an application (`new Pipeline(name)`), stage policies get private in-memory state and
 * only inline options, and time is the system clock's; `orchestrator.pipeline(name)` shares the
 * application's named policies and its clock (`forRoot({ clock })`), which also times the stages.
 *
 * @publicApi
 * @example
 * const chat = orchestrator
 *   .pipeline<string>('chat')
 *   .addStage('retrieve', (prompt) => search(prompt))
 *   .addStage('infer', (docs, ctx) => llm.complete(docs, ctx.signal), { policy: 'openai' })
 *   .withErrorHandler((stage, error, input) => input);
 * const answer = await chat.run('hello', { timeoutMs: 10_000 });
 */
export class Pipeline<I, O = I> {
  readonly name: string;
  private readonly engine: PolicyEngine;
  private standalone: boolean;
  private stages: readonly CompiledStage[] = [];
  private errorHandler: PipelineErrorHandler | undefined;

  /**
   * @param engine the application's policy state; absent, a private standalone one (no named
   *   policies, no events)
   */
  constructor(name: string, engine?: PolicyEngine) {
    checkString('Pipeline: name', name);
    this.name = name;
    this.standalone = engine === undefined;
    this.engine = engine ?? PolicyEngine.standalone();
  }

  /**
   * Appends a stage; its input is the previous stage's output (or the pipeline's input). Its
   * policy is validated and compiled now.
   * @throws {InvalidOptionsError} for bad inline policy options or an unknown policy name
   */
  addStage<N>(
    name: string,
    fn: StageFn<O, N>,
    options: StageOptions = {},
  ): Pipeline<I, Awaited<N>> {
    checkString(`pipeline "${this.name}": stage name`, name);
    const where = describeStage(this.name, name);
    checkFunction(`${where}: fn`, fn);
    checkObject(`${where}: options`, options);
    const { engine, standalone } = this;
    const chain = compileStage({
      pipeline: this.name,
      stage: name,
      fn,
      policy: options.policy,
      engine,
      standalone,
    });
    return this.derive<Awaited<N>>([...this.stages, { name, chain }], this.errorHandler);
  }

  /**
   * Recovers failed stages: the handler's value (or resolved value) becomes the next stage's input.
   * Replaces any previous handler.
   */
  withErrorHandler(handler: PipelineErrorHandler): Pipeline<I, O> {
    checkFunction(`pipeline "${this.name}": error handler`, handler);
    return this.derive<O>(this.stages, handler);
  }

  stageCount(): number {
    return this.stages.length;
  }

  /**
   * Runs every stage in order and resolves with the last stage's output; with no stage, with
   * `input`. A last stage's `AsyncIterable` is handed back as it is.
   * @throws {PipelineStageError} (as a rejection) when a stage fails and no handler recovers it
   * @throws {PipelineAbortedError} (as a rejection) when `signal` aborts or `timeoutMs` elapses
   */
  async run(input: I, options: PipelineRunOptions = {}): Promise<O> {
    return (await this.execute(input, options, undefined)) as O;
  }

  /** Runs like `run`, and also reports how long each stage took (recovered stages included). */
  async executeTimed(input: I, options: PipelineRunOptions = {}): Promise<TimedPipelineResult<O>> {
    const stageTimings: StageTiming[] = [];
    const output = (await this.execute(input, options, stageTimings)) as O;
    return { output, stageTimings };
  }

  /** A copy with other stages or handler, sharing the name and the policy state. */
  private derive<N>(
    stages: readonly CompiledStage[],
    errorHandler: PipelineErrorHandler | undefined,
  ): Pipeline<I, N> {
    const next = new Pipeline<I, N>(this.name, this.engine);
    next.standalone = this.standalone;
    next.stages = stages;
    next.errorHandler = errorHandler;
    return next;
  }

  private async execute(
    input: unknown,
    options: PipelineRunOptions,
    timings: StageTiming[] | undefined,
  ): Promise<unknown> {
    this.validateRunOptions(options);
    const { clock } = this.engine.deps;
    const scope = new RunAbortScope(this.name, options, clock);
    const elapsed = startStopwatch(clock);
    let current = input;
    let begun = 0;
    try {
      for (let index = 0; index < this.stages.length; index++) {
        // Checked between stages too: an abort while a stage finished must stop the next one.
        if (scope.signal.aborted) throw this.aborted(index, scope.signal.reason);
        begun++;
        current = await this.runStage(index, current, scope, timings);
      }
      this.reportFinished(elapsed(), begun, 'success');
      return current;
    } catch (error) {
      const aborted = error instanceof PipelineAbortedError;
      this.reportFinished(elapsed(), begun, aborted ? 'aborted' : 'failure');
      throw error;
    } finally {
      scope.dispose();
    }
  }

  private validateRunOptions(options: PipelineRunOptions): void {
    const where = `pipeline "${this.name}" run options`;
    checkObject(where, options);
    if (options.timeoutMs !== undefined) checkDuration(`${where}: timeoutMs`, options.timeoutMs, 0);
  }

  private async runStage(
    index: number,
    input: unknown,
    scope: RunAbortScope,
    timings: StageTiming[] | undefined,
  ): Promise<unknown> {
    const { name } = this.stages[index];
    const ctx: StageContext = { pipeline: this.name, stage: name, index, signal: scope.signal };
    this.reportStarted(ctx);
    const elapsed = startStopwatch(this.engine.deps.clock);
    const result = await this.attempt(ctx, input, scope);
    const durationMs = elapsed();
    timings?.push({ index, name, durationMs });
    this.reportStageFinished(ctx, durationMs, result.outcome);
    if ('error' in result) throw result.error;
    return result.value;
  }

  /** Runs one stage through its policy chain; never rejects, the result says how it ended. */
  private async attempt(
    ctx: StageContext,
    input: unknown,
    scope: RunAbortScope,
  ): Promise<StageResult> {
    try {
      // The run's signal travels with the call, so the stage's policies stop when it aborts: no
      // further retry, no breaker failure, no queued backpressure waiter left behind.
      const chain = this.stages[ctx.index].chain;
      const value = await scope.race(chain.run(undefined, [input, ctx], scope.policySignal));
      return { outcome: 'success', value };
    } catch (error) {
      return this.recover(ctx, input, error, scope);
    }
  }

  private async recover(
    ctx: StageContext,
    input: unknown,
    error: unknown,
    scope: RunAbortScope,
  ): Promise<StageResult> {
    // A stage that failed because the run aborted (it passed ctx.signal on) is aborted, not failed.
    if (scope.signal.aborted) return this.abortedResult(ctx, scope);
    const handler = this.errorHandler;
    if (handler === undefined) return this.failed(ctx, error);
    try {
      const value = await scope.race(handler(ctx.stage, error, input));
      return { outcome: 'recovered', value };
    } catch (handlerError) {
      return scope.signal.aborted ? this.abortedResult(ctx, scope) : this.failed(ctx, handlerError);
    }
  }

  private failed(ctx: StageContext, cause: unknown): StageResult {
    return {
      outcome: 'failure',
      error: new PipelineStageError(this.name, ctx.stage, ctx.index, cause),
    };
  }

  private abortedResult(ctx: StageContext, scope: RunAbortScope): StageResult {
    return { outcome: 'aborted', error: this.aborted(ctx.index, scope.signal.reason) };
  }

  private aborted(index: number, reason: unknown): PipelineAbortedError {
    return new PipelineAbortedError(this.name, this.stages[index].name, index, reason);
  }

  private get events() {
    return this.engine.deps.events;
  }

  // Each report checks `active` first, so a run nobody observes builds no event objects.
  private reportStarted(ctx: StageContext): void {
    if (!this.events.active) return;
    const { pipeline, stage, index } = ctx;
    this.emit({ type: 'pipeline.stage.started', pipeline, stage, index });
  }

  private reportStageFinished(ctx: StageContext, durationMs: number, outcome: StageOutcome): void {
    if (!this.events.active) return;
    const { pipeline, stage, index } = ctx;
    this.emit({ type: 'pipeline.stage.finished', pipeline, stage, index, durationMs, outcome });
  }

  /** The run's summary; `stages` counts the stages that started. */
  private reportFinished(
    durationMs: number,
    stages: number,
    outcome: 'success' | 'failure' | 'aborted',
  ): void {
    if (!this.events.active) return;
    this.emit({ type: 'pipeline.finished', pipeline: this.name, durationMs, stages, outcome });
  }

  private emit(event: OrchestratorEvent): void {
    this.events.emit(event);
  }
}
