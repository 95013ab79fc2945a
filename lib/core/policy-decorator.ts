import { InvalidOptionsError } from './invalid-options.error.js';
import type { Chain } from './layer.js';
import { PolicyEngine } from './policy-engine.js';
import type { PolicyKind } from './policy-kind.js';
import { bindChain, classNameOf, protectMethod, type ProtectedMethod } from './protected-method.js';

const STANDALONE_ENGINE = Symbol('nestjs-orchestrator:standalone-engine');
/** Chains for calls whose `this` is not an object (a method called detached). */
const detachedChains = new WeakMap<ProtectedMethod, Chain>();

/**
 * Builds a method decorator for one policy kind. Inline options are validated when the class
 * is defined, so a bad `@Retry({ maxAttempts: 0 })` fails at import, not at the first call.
 */
export function policyDecorator<O extends object>(
  kind: PolicyKind<string, O>,
  ref: string | O | number | undefined,
): MethodDecorator {
  return (target, key, descriptor) => {
    if (ref !== undefined && typeof ref !== 'string') {
      const where = `${kind.decorator} on ${classNameOf(target)}.${String(key)}`;
      PolicyEngine.validateSection(kind, ref, where);
    }
    protectMethod(target, key, descriptor, { kind, ref }, resolveUnbound);
  };
}

/**
 * A method on an instance no Nest application bound (created with `new`, as in a plain unit
 * test) runs with its inline options on private in-memory state, one engine per instance.
 */
function resolveUnbound(self: unknown, method: ProtectedMethod): Chain {
  const named = method.specs.find((spec) => typeof spec.ref === 'string');
  if (named !== undefined) {
    throw new InvalidOptionsError(
      `${named.kind.decorator}("${String(named.ref)}") on ${method.className}.${method.methodName}`,
      'names a policy, but this instance was not created by a Nest application that imports OrchestratorModule, so no policy is known. Create it through Nest (e.g. Test.createTestingModule), or use inline options',
    );
  }
  if (typeof self !== 'object' || self === null) {
    let chain = detachedChains.get(method);
    if (chain === undefined) {
      chain = PolicyEngine.standalone().compile(method);
      detachedChains.set(method, chain);
    }
    return chain;
  }
  const chain = standaloneEngineOf(self).compile(method);
  bindChain(self, method, chain);
  return chain;
}

function standaloneEngineOf(instance: object): PolicyEngine {
  const holder = instance as { [STANDALONE_ENGINE]?: PolicyEngine };
  if (holder[STANDALONE_ENGINE] === undefined) {
    Object.defineProperty(instance, STANDALONE_ENGINE, {
      value: PolicyEngine.standalone(),
      enumerable: false,
    });
  }
  return holder[STANDALONE_ENGINE]!;
}
