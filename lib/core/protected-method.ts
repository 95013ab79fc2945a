import 'reflect-metadata';
import { InvalidOptionsError } from './invalid-options.error.js';
import type { Chain } from './layer.js';
import type { PolicyKind } from './policy-kind.js';
import { returnKindOf, type ReturnKind } from './return-kind.js';

/** One decorator on a method: which policy, and the policy name or inline options it was given. */
export interface PolicySpec {
  readonly kind: PolicyKind;
  readonly ref: string | number | object | undefined;
}

/** Where `@Signal()` records the index of the parameter that receives the call's signal. */
export const SIGNAL_PARAMETER = Symbol.for('nestjs-orchestrator:signal-parameter');

/** What the first decorator on a method records; the specs are ordered outermost first. */
export interface ProtectedMethod {
  readonly original: Function;
  readonly specs: PolicySpec[];
  readonly kind: ReturnKind;
  readonly className: string;
  readonly methodName: string;
  /** The parameter `@Signal()` marks, or -1: the chain puts each attempt's signal there. */
  readonly signalIndex: number;
  /** The instance property under which a binder stores this method's compiled chain. */
  readonly slot: symbol;
}

/** Compiles a chain for an instance no application bound (a class created with `new`). */
export type UnboundResolver = (self: unknown, method: ProtectedMethod) => Chain;

const PROTECTED = Symbol.for('nestjs-orchestrator:protected-method');

export function protectedMethodOf(fn: unknown): ProtectedMethod | undefined {
  return typeof fn === 'function' ? (fn as any)[PROTECTED] : undefined;
}

/**
 * Records `spec` on the method and, for the first decorator, replaces it with one wrapper at
 * decoration time: Nest captures controller handlers before any lifecycle hook, so a wrapper
 * installed later would miss routes. The wrapper keeps the method's name and metadata.
 */
export function protectMethod(
  target: object,
  key: string | symbol,
  descriptor: PropertyDescriptor,
  spec: PolicySpec,
  resolveUnbound: UnboundResolver,
): void {
  let method = protectedMethodOf(descriptor.value);
  if (method === undefined) {
    method = describeMethod(target, key, descriptor.value);
    descriptor.value = createWrapper(method, resolveUnbound);
  }
  // Decorators run bottom-up, so the one written highest arrives last and becomes outermost.
  method.specs.unshift(spec);
}

function describeMethod(target: object, key: string | symbol, original: unknown): ProtectedMethod {
  if (typeof original !== 'function') {
    throw new TypeError(
      `nestjs-orchestrator decorators apply to methods; ${String(key)} is not one`,
    );
  }
  const className = classNameOf(target);
  refusePrimitiveReturnType(target, key, `${className}.${String(key)}`);
  const signalIndex: unknown = Reflect.getOwnMetadata(SIGNAL_PARAMETER, target, key);
  return {
    original,
    specs: [],
    kind: returnKindOf(original, target, key),
    className,
    methodName: String(key),
    signalIndex: typeof signalIndex === 'number' ? signalIndex : -1,
    slot: Symbol(`${className}.${String(key)}`),
  };
}

const PRIMITIVE_TYPES: ReadonlySet<unknown> = new Set([Number, String, Boolean]);

/**
 * A guarded method returns a Promise whatever its body does (a layer may answer before the body
 * runs), so a declared `: number` would be a lie the compiler believes: `v + 1` gives
 * `"[object Promise]1"`. Refused when the class is defined.
 */
function refusePrimitiveReturnType(target: object, key: string | symbol, where: string): void {
  const declared: unknown = Reflect.getMetadata?.('design:returntype', target, key);
  if (!PRIMITIVE_TYPES.has(declared)) return;
  const type = (declared as Function).name.toLowerCase();
  throw new InvalidOptionsError(
    where,
    `declares the return type ${type}, but a guarded method returns a Promise; declare Promise<${type}> or make the method async`,
  );
}

/** The class a decorated method belongs to: the prototype's constructor, or, for a static method, the class itself. */
export function classNameOf(target: object): string {
  if (typeof target === 'function') return target.name;
  return (target as { constructor?: Function }).constructor?.name ?? 'Object';
}

function createWrapper(method: ProtectedMethod, resolveUnbound: UnboundResolver): Function {
  const { slot } = method;
  const wrapper = function (this: any, ...args: unknown[]): unknown {
    const chain: Chain | undefined = this?.[slot];
    if (chain !== undefined) return chain.invoke(this, args);
    return invokeUnbound(this, args, method, resolveUnbound);
  };
  copyMethodMetadata(method.original, wrapper);
  Object.defineProperty(wrapper, 'name', { value: method.original.name, configurable: true });
  Object.defineProperty(wrapper, PROTECTED, { value: method });
  return wrapper;
}

function invokeUnbound(
  self: unknown,
  args: unknown[],
  method: ProtectedMethod,
  resolveUnbound: UnboundResolver,
): unknown {
  let chain: Chain;
  try {
    chain = resolveUnbound(self, method);
  } catch (error) {
    if (method.kind === 'promise') return Promise.reject(error);
    throw error;
  }
  return chain.invoke(self, args);
}

/** Copies route, guard, pipe and Swagger metadata that decorators below ours put on the method. */
export function copyMethodMetadata(from: Function, to: Function): void {
  for (const key of Reflect.getOwnMetadataKeys(from)) {
    Reflect.defineMetadata(key, Reflect.getOwnMetadata(key, from), to);
  }
}

/** The protected methods an instance has, own class first, walking up the prototype chain. */
export function protectedMethodsOf(instance: object): ProtectedMethod[] {
  const found = new Map<symbol, ProtectedMethod>();
  for (let proto = Object.getPrototypeOf(instance); proto && proto !== Object.prototype;) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const descriptor = Object.getOwnPropertyDescriptor(proto, name);
      const method = protectedMethodOf(descriptor?.value);
      if (method && !found.has(method.slot)) found.set(method.slot, method);
    }
    proto = Object.getPrototypeOf(proto);
  }
  return [...found.values()];
}

/** Stores a compiled chain on an instance, where the wrapper finds it with one property read. */
export function bindChain(instance: object, method: ProtectedMethod, chain: Chain): void {
  Object.defineProperty(instance, method.slot, {
    value: chain,
    configurable: true,
    writable: true,
    enumerable: false,
  });
}
