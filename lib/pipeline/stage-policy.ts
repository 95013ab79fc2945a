import { InvalidOptionsError } from '../core/invalid-options.error.js';
import { Chain, type Layer } from '../core/layer.js';
import type { LayerOwner, PolicyEngine } from '../core/policy-engine.js';
import { checkString } from '../core/validate.js';
import { POLICY_KINDS, validatePolicy, type PolicyOptions } from '../kinds/policy-kinds.js';
import type { StageContext, StageFn } from './pipeline.types.js';

/** Everything needed to compile one stage. */
export interface StageSource {
  readonly pipeline: string;
  readonly stage: string;
  readonly fn: StageFn<any, unknown>;
  readonly policy: string | PolicyOptions | undefined;
  readonly engine: PolicyEngine;
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
  const { policy, engine } = source;
  if (policy === undefined) return [];
  const sections: Record<string, unknown> =
    typeof policy === 'string' ? namedSections(source) : inlineSections(source, policy);
  return POLICY_KINDS.filter((kind) => sections[kind.section] !== undefined).map((kind) => {
    // A name goes to the engine as is, so the stage shares state with decorators using it.
    const ref = typeof policy === 'string' ? policy : (sections[kind.section] as object);
    return engine.layer({ kind, ref }, owner);
  });
}

function inlineSections(source: StageSource, policy: PolicyOptions): PolicyOptions {
  validatePolicy(policy, `${describeStage(source.pipeline, source.stage)} policy`);
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
  const policy = source.engine.deps.policies[name];
  if (policy === undefined) throw unknownPolicy(where, name, source.engine);
  return policy as PolicyOptions;
}

function unknownPolicy(where: string, name: string, engine: PolicyEngine): InvalidOptionsError {
  const known = Object.keys(engine.deps.policies).map((n) => JSON.stringify(n));
  const knownText =
    known.length > 0 ? `known policies: ${known.join(', ')}` : 'no policy is defined';
  const problem = `names policy "${name}", which OrchestratorModule.forRoot({ policies })`;
  return new InvalidOptionsError(where, `${problem} does not define (${knownText})`);
}
