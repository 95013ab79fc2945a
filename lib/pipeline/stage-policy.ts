import { InvalidOptionsError } from '../core/invalid-options.error.js';
import { Chain, type Layer } from '../core/layer.js';
import { checkString } from '../core/validate.js';
import { validatePolicy, type PolicyOptions } from '../runtime/policy-options.js';
import type { LayerOwner, PolicyRuntime } from '../runtime/policy-runtime.js';
import type { PolicyKind } from '../runtime/protected-method.js';
import type { StageContext, StageFn } from './pipeline.types.js';

/** The documented composition order, outermost first, as for stacked decorators. */
const LAYER_ORDER: readonly PolicyKind[] = ['backpressure', 'dedupe', 'circuitBreaker', 'retry'];

/** Everything needed to compile one stage. */
export interface StageSource {
  readonly pipeline: string;
  readonly stage: string;
  readonly fn: StageFn<any, unknown>;
  readonly policy: string | PolicyOptions | undefined;
  readonly runtime: PolicyRuntime;
  /** True when the pipeline was built without an application, so no named policy exists. */
  readonly standalone: boolean;
}

/**
 * Compiles a stage once, when it is added: its policy's layers around its function. Bad inline
 * options and unknown policy names therefore fail `addStage`, never a run.
 */
export function compileStage(source: StageSource): Chain {
  const owner = stageOwner(source.pipeline, source.stage);
  return new Chain(policyLayers(source, owner), stageTarget(source.fn), 'promise');
}

/** A stage as a policy owner: `<pipeline>.<stage>` is the state key of unnamed inline sections. */
export function stageOwner(pipeline: string, stage: string): LayerOwner {
  const where = describeStage(pipeline, stage);
  return { id: `${pipeline}.${stage}`, describe: () => where };
}

/** How errors name a stage, e.g. `pipeline "chat" stage "infer"`. */
export function describeStage(pipeline: string, stage: string): string {
  return `pipeline "${pipeline}" stage "${stage}"`;
}

/**
 * The context travels as the second argument. A dedupe key is not changed by it (the default key
 * encodes an AbortSignal by its type alone; a `key` function may ignore it), and a shared
 * execution then runs with a context whose signal aborts only when every run sharing it has
 * aborted, so one run's abort never fails the others.
 */
function stageTarget(fn: StageFn<any, unknown>): Function {
  return (input: unknown, ctx: StageContext): unknown => fn(input, ctx);
}

function policyLayers(source: StageSource, owner: LayerOwner): Layer[] {
  const { policy, runtime } = source;
  if (policy === undefined) return [];
  const sections =
    typeof policy === 'string' ? namedSections(source) : inlineSections(source, policy, owner);
  return LAYER_ORDER.filter((kind) => sections[kind] !== undefined).map((kind) =>
    // A name goes to the runtime as is, so the stage shares state with decorators using it.
    runtime.layer({ kind, ref: typeof policy === 'string' ? policy : sections[kind] }, owner),
  );
}

function inlineSections(source: StageSource, policy: PolicyOptions, owner: LayerOwner) {
  validatePolicy(owner.id, policy, `${describeStage(source.pipeline, source.stage)} policy`);
  return policy;
}

function namedSections(source: StageSource): PolicyOptions {
  const name = source.policy as string;
  const where = describeStage(source.pipeline, source.stage);
  checkString(`${where}: policy`, name);
  if (source.standalone) {
    throw new InvalidOptionsError(
      where,
      `names policy "${name}", but a Pipeline created without a runtime has no named ` +
        'policies; pass inline PolicyOptions, or build it with orchestrator.pipeline(name) in ' +
        `an application whose OrchestratorModule.forRoot({ policies }) defines "${name}"`,
    );
  }
  const policy = source.runtime.deps.policies[name];
  if (policy === undefined) throw unknownPolicy(where, name, source.runtime);
  return policy;
}

function unknownPolicy(where: string, name: string, runtime: PolicyRuntime): InvalidOptionsError {
  const known = Object.keys(runtime.deps.policies).map((n) => JSON.stringify(n));
  const knownText =
    known.length > 0 ? `known policies: ${known.join(', ')}` : 'no policy is defined';
  const problem = `names policy "${name}", which OrchestratorModule.forRoot({ policies })`;
  return new InvalidOptionsError(where, `${problem} does not define (${knownText})`);
}
