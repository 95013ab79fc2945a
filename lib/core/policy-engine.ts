import { CallObserverLayer, reportedPolicy } from './call-observer.js';
import { systemClock, type Clock } from './clock.js';
import { silentSink, type EventSink } from './events.js';
import { InvalidOptionsError } from './invalid-options.error.js';
import { Chain, type Layer } from './layer.js';
import type { PolicyKind, PrimitiveContext, SharedKind } from './policy-kind.js';
import type { PolicySpec, ProtectedMethod } from './protected-method.js';
import { checkKnownKeys, checkObject, fieldPath } from './validate.js';

/** A named policy as the engine sees it: sections keyed by kind. */
export type PolicySections = Readonly<Record<string, object | number | undefined>>;

export interface EngineDependencies {
  /** The store of each kind by section; a kind missing here gets an in-memory store. */
  readonly stores: ReadonlyMap<string, unknown>;
  readonly policies: Readonly<Record<string, PolicySections>>;
  readonly clock: Clock;
  readonly events: EventSink;
  readonly logger?: { warn(message: string): void };
}

/** Who asks for a layer: a decorated method or a pipeline stage; named in errors and state keys. */
export interface LayerOwner {
  /** `Class.method` or `<pipeline>.<stage>`, the default state key. */
  readonly id: string;
  /** How the owner is described in errors, e.g. `@Retry("p") on Cats.find`. */
  describe(kind: PolicyKind, ref: PolicySpec['ref']): string;
}

/** A method's owner, for errors and default state keys. */
export function methodOwner(method: ProtectedMethod): LayerOwner {
  const id = `${method.className}.${method.methodName}`;
  return {
    id,
    describe: (kind, ref) =>
      `${kind.decorator}(${typeof ref === 'string' ? JSON.stringify(ref) : ''}) on ${id}`,
  };
}

interface SharedEntry {
  readonly primitive: unknown;
  readonly resolved: object;
}

/**
 * One application's policy state: named policies, stores, and the primitives created from them,
 * shared by name between every decorator and pipeline stage of that application. Generic over
 * the kinds: each spec carries its kind's descriptor. The Nest module builds one per
 * application; a class created with `new` gets a private one.
 */
export class PolicyEngine {
  private readonly shared = new Map<SharedKind, Map<string, SharedEntry>>();
  private readonly ownStores = new Map<string, unknown>();

  constructor(readonly deps: EngineDependencies) {}

  /** An engine with private in-memory state and no named policies. */
  static standalone(clock: Clock = systemClock): PolicyEngine {
    return new PolicyEngine({ stores: new Map(), policies: {}, clock, events: silentSink });
  }

  /** Checks a section's keys and values; returns it merged with the defaults. */
  static validateSection(kind: PolicyKind, section: unknown, scope: string): object {
    const options = kind.normalize ? kind.normalize(section) : section;
    const path = fieldPath(scope, kind.section);
    checkObject(path, options);
    checkKnownKeys(path, options as object, kind.optionKeys);
    return kind.resolve(options as object, scope);
  }

  compile(method: ProtectedMethod): Chain {
    const owner = methodOwner(method);
    const layers = method.specs.map((spec) => this.layer(spec, owner));
    const { events } = this.deps;
    if (events.observesCalls === true) {
      const policy = reportedPolicy(method.specs, owner.id);
      layers.unshift(new CallObserverLayer(owner.id, policy, events));
    }
    return new Chain(layers, method.original, method.kind, {
      signalIndex: method.signalIndex,
      method: owner.id,
    });
  }

  /** Builds the layer for one decorator or stage policy section. */
  layer(spec: PolicySpec, owner: LayerOwner): Layer {
    const { kind } = spec;
    const { name, options } = this.resolveRef(spec, owner);
    const primitive = kind.createPrimitive ? this.primitive(kind, name, options) : undefined;
    const { clock, events } = this.deps;
    const share = this.share;
    return kind.createLayer({ primitive, name, options, clock, events, owner: owner.id, share });
  }

  private readonly share = <Q>(kind: SharedKind<string, any, Q>, name: string, options: object) =>
    this.primitive(kind, name, options);

  /** The primitive of `kind` called `name`, created on first use; a second user must agree. */
  primitive<P>(kind: SharedKind<string, any, P>, name: string, options: object): P {
    const resolved = kind.resolve(options, '');
    const registry = this.registry(kind);
    const existing = registry.get(name);
    if (existing === undefined) {
      const primitive = kind.createPrimitive!(name, options, this.context(kind));
      registry.set(name, { primitive, resolved });
      return primitive;
    }
    const perMethod = new Set(['name', ...(kind.perMethodSettings ?? [])]);
    const conflict = firstDifference(existing.resolved, resolved, perMethod);
    if (conflict !== undefined) {
      throw new InvalidOptionsError(
        `"${name}"`,
        `is configured twice with different options (${conflict}); give one of them another name, or move the options into one named policy`,
      );
    }
    return existing.primitive as P;
  }

  /** The primitive called `name` if this application uses it. */
  existing<P>(kind: SharedKind<string, any, P>, name: string): P | undefined {
    return this.shared.get(kind)?.get(name)?.primitive as P | undefined;
  }

  /**
   * The primitive called `name` if this application uses it, else a transient one over the same
   * store with default options, which is not registered (so it never conflicts with options a
   * decorator or stage registers later, and `names()` lists only names in use).
   */
  lookup<P>(kind: SharedKind<string, any, P>, name: string, defaults: object = {}): P {
    return this.existing(kind, name) ?? kind.createPrimitive!(name, defaults, this.context(kind));
  }

  /** The names of `kind` this application's decorators and pipelines use. */
  names(kind: SharedKind): string[] {
    return [...(this.shared.get(kind)?.keys() ?? [])];
  }

  /** The store behind `kind`: the application's, or a private in-memory one. */
  store<S>(kind: SharedKind<string, any, any, S>): S {
    const key = kind.store!.key ?? kind.section;
    const given = this.deps.stores.get(key);
    if (given !== undefined) return given as S;
    let own = this.ownStores.get(key);
    if (own === undefined) {
      own = kind.store!.inMemory(this.deps.clock);
      this.ownStores.set(key, own);
    }
    return own as S;
  }

  private context<S>(kind: SharedKind<string, any, any, S>): PrimitiveContext<S> {
    const { clock, events, logger } = this.deps;
    const store = kind.store ? this.store(kind) : (undefined as S);
    return { store, clock, events, logger };
  }

  private registry(kind: SharedKind): Map<string, SharedEntry> {
    let registry = this.shared.get(kind);
    if (registry === undefined) {
      registry = new Map();
      this.shared.set(kind, registry);
    }
    return registry;
  }

  /** Finds the options a spec refers to, and the name its state is kept under. */
  private resolveRef(spec: PolicySpec, owner: LayerOwner): { name: string; options: object } {
    const { kind, ref } = spec;
    if (typeof ref !== 'string') {
      const options = (kind.normalize ? kind.normalize(ref ?? {}) : (ref ?? {})) as {
        name?: string;
      };
      return { name: options.name ?? owner.id, options };
    }
    const policy = this.deps.policies[ref];
    const given = policy?.[kind.section];
    if (given === undefined) throw this.unknownPolicy(spec, owner, policy !== undefined);
    const section = (kind.normalize ? kind.normalize(given) : given) as { name?: string };
    // A named policy is one downstream: its state lives under the policy's name, unless the
    // kind keeps it per method (dedupe results) or the section names it.
    const byPolicy = kind.namedState === 'policy' ? ref : owner.id;
    return { name: section.name ?? byPolicy, options: section };
  }

  private unknownPolicy(spec: PolicySpec, owner: LayerOwner, exists: boolean): InvalidOptionsError {
    const known = Object.keys(this.deps.policies).map((n) => JSON.stringify(n));
    const knownText =
      known.length > 0 ? `known policies: ${known.join(', ')}` : 'no policy is defined';
    const ref = String(spec.ref);
    const problem = exists
      ? `names policy "${ref}", which has no "${spec.kind.section}" section (${knownText})`
      : `names policy "${ref}", which OrchestratorModule.forRoot({ policies }) does not define (${knownText})`;
    return new InvalidOptionsError(owner.describe(spec.kind, spec.ref), problem);
  }
}

/**
 * The first setting on which two resolved option objects differ, described; functions compare
 * by identity (a named policy shares one), so two inline `isFailure` lambdas differ.
 */
function firstDifference(
  first: object,
  second: object,
  skip: ReadonlySet<string>,
): string | undefined {
  const a = first as Record<string, unknown>;
  const b = second as Record<string, unknown>;
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (skip.has(key) || Object.is(a[key], b[key])) continue;
    return typeof a[key] === 'function' || typeof b[key] === 'function'
      ? `two different ${key} functions`
      : `${key}: ${describeSetting(a[key])} vs ${describeSetting(b[key])}`;
  }
  return undefined;
}

function describeSetting(value: unknown): string {
  return value === undefined ? 'not set' : String(value);
}
