import { InvalidOptionsError } from '../core/invalid-options.error.js';
import type { Chain } from '../core/layer.js';
import { PolicyRuntime } from './policy-runtime.js';
import {
  bindChain,
  classNameOf,
  DECORATOR_NAMES,
  protectMethod,
  type PolicyKind,
  type ProtectedMethod,
} from './protected-method.js';

const STANDALONE_RUNTIME = Symbol('nestjs-orchestrator:standalone-runtime');
/** Chains for calls whose `this` is not an object (a method called detached). */
const detachedChains = new WeakMap<ProtectedMethod, Chain>();

/**
 * Builds a method decorator for one policy kind. Inline options are validated when the class
 * is defined, so a bad `@Retry({ maxAttempts: 0 })` fails at import, not at the first call.
 */
export function policyDecorator<O extends object>(
  kind: PolicyKind,
  ref: string | O | undefined,
  validate: (options: O, scope: string) => unknown,
): MethodDecorator {
  return (target, key, descriptor) => {
    if (typeof ref === 'object' && ref !== null) {
      validate(ref, `${DECORATOR_NAMES[kind]} on ${classNameOf(target)}.${String(key)}`);
    }
    protectMethod(target, key, descriptor, { kind, ref }, resolveUnbound);
  };
}

/**
 * A method on an instance no Nest application bound (created with `new`, as in a plain unit
 * test) runs with its inline options on private in-memory state, one runtime per instance.
 */
function resolveUnbound(self: unknown, method: ProtectedMethod): Chain {
  const named = method.specs.find((spec) => typeof spec.ref === 'string');
  if (named !== undefined) {
    throw new InvalidOptionsError(
      `${DECORATOR_NAMES[named.kind]}("${String(named.ref)}") on ${method.className}.${method.methodName}`,
      'names a policy, but this instance was not created by a Nest application that imports OrchestratorModule, so no policy is known. Create it through Nest (e.g. Test.createTestingModule), or use inline options',
    );
  }
  if (typeof self !== 'object' || self === null) {
    let chain = detachedChains.get(method);
    if (chain === undefined) {
      chain = PolicyRuntime.standalone().compile(method);
      detachedChains.set(method, chain);
    }
    return chain;
  }
  const chain = standaloneRuntimeOf(self).compile(method);
  bindChain(self, method, chain);
  return chain;
}

function standaloneRuntimeOf(instance: object): PolicyRuntime {
  const holder = instance as { [STANDALONE_RUNTIME]?: PolicyRuntime };
  if (holder[STANDALONE_RUNTIME] === undefined) {
    Object.defineProperty(instance, STANDALONE_RUNTIME, {
      value: PolicyRuntime.standalone(),
      enumerable: false,
    });
  }
  return holder[STANDALONE_RUNTIME]!;
}
