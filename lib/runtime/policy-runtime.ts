import { BackpressureGuard } from '../backpressure/backpressure.policy.js';
import { BackpressureLayer } from '../backpressure/backpressure.layer.js';
import {
  resolveBackpressureOptions,
  type BackpressureOptions,
} from '../backpressure/backpressure-options.js';
import type { BackpressureStore } from '../backpressure/backpressure.store.js';
import { InMemoryBackpressureStore } from '../backpressure/in-memory-backpressure.store.js';
import { CircuitBreakerLayer } from '../circuit-breaker/circuit-breaker.layer.js';
import { CircuitBreakerPolicy } from '../circuit-breaker/circuit-breaker.policy.js';
import {
  resolveCircuitBreakerOptions,
  type CircuitBreakerOptions,
} from '../circuit-breaker/circuit-breaker-options.js';
import type { CircuitBreakerStore } from '../circuit-breaker/circuit-breaker.store.js';
import { InMemoryCircuitBreakerStore } from '../circuit-breaker/in-memory-circuit-breaker.store.js';
import { systemClock, type Clock } from '../core/clock.js';
import { silentSink, type EventSink } from '../core/events.js';
import { InvalidOptionsError } from '../core/invalid-options.error.js';
import { Chain, type Layer } from '../core/layer.js';
import { DedupeLayer } from '../dedupe/dedupe.layer.js';
import { resolveDedupeOptions, type DedupeOptions } from '../dedupe/dedupe-options.js';
import type { DedupeStore } from '../dedupe/dedupe.store.js';
import { Deduplicator } from '../dedupe/deduplicator.js';
import { InMemoryDedupeStore } from '../dedupe/in-memory-dedupe.store.js';
import { RetryLayer } from '../retry/retry.layer.js';
import { RetryPolicy } from '../retry/retry.policy.js';
import type { RetryOptions } from '../retry/retry-options.js';
import type { PolicyOptions } from './policy-options.js';
import {
  DECORATOR_NAMES,
  type PolicyKind,
  type PolicySpec,
  type ProtectedMethod,
} from './protected-method.js';

/**
 * The stores behind the primitives; each is swappable (`forRoot({ stores })`).
 *
 * @publicApi
 */
export interface OrchestratorStores {
  circuitBreaker: CircuitBreakerStore;
  dedupe: DedupeStore;
  backpressure: BackpressureStore;
}

export interface RuntimeDependencies {
  stores: OrchestratorStores;
  policies: Readonly<Record<string, PolicyOptions>>;
  clock: Clock;
  events: EventSink;
  logger?: { warn(message: string): void };
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
      `${DECORATOR_NAMES[kind]}(${typeof ref === 'string' ? JSON.stringify(ref) : ''}) on ${id}`,
  };
}

/**
 * One application's policy state: named policies, stores, and the primitives created from them,
 * shared by name between every decorator and pipeline stage of that application. Pure: the Nest
 * module builds one per application; a class created with `new` gets a private one.
 */
export class PolicyRuntime {
  private readonly circuits = new Map<string, CircuitBreakerPolicy>();
  private readonly guards = new Map<string, BackpressureGuard>();
  private readonly deduplicators = new Map<string, Deduplicator>();

  constructor(readonly deps: RuntimeDependencies) {}

  /** A runtime with private in-memory state and no named policies. */
  static standalone(clock: Clock = systemClock): PolicyRuntime {
    return new PolicyRuntime({
      stores: {
        circuitBreaker: new InMemoryCircuitBreakerStore(clock),
        dedupe: new InMemoryDedupeStore(clock),
        backpressure: new InMemoryBackpressureStore(clock),
      },
      policies: {},
      clock,
      events: silentSink,
    });
  }

  compile(method: ProtectedMethod): Chain {
    const owner = methodOwner(method);
    const layers = method.specs.map((spec) => this.layer(spec, owner));
    return new Chain(layers, method.original, method.kind);
  }

  /** Builds the layer for one decorator or stage policy section. */
  layer(spec: PolicySpec, owner: LayerOwner): Layer {
    const { name, options } = this.resolveRef(spec, owner);
    switch (spec.kind) {
      case 'retry': {
        // Retry keeps no state: its events name the policy it came from, or its owner.
        const label = typeof spec.ref === 'string' ? spec.ref : name;
        return new RetryLayer(this.retryPolicy(label, options as RetryOptions));
      }
      case 'circuitBreaker':
        return new CircuitBreakerLayer(this.circuit(name, options as CircuitBreakerOptions));
      case 'dedupe': {
        // The key function reads this method's arguments: each method that shares the name
        // brings its own.
        const dedupeOptions = options as DedupeOptions;
        return new DedupeLayer(this.deduplicator(name, dedupeOptions), dedupeOptions);
      }
      case 'backpressure':
        return new BackpressureLayer(this.guard(name, options as BackpressureOptions));
    }
  }

  /** The circuit called `name`, created on first use; an unused name reads closed. */
  circuit(name: string, options: CircuitBreakerOptions): CircuitBreakerPolicy {
    return this.shared(this.circuits, name, resolveCircuitBreakerOptions(options), () => {
      const { clock, events, stores } = this.deps;
      return new CircuitBreakerPolicy(name, options, stores.circuitBreaker, { clock, events });
    });
  }

  /**
   * The circuit called `name` if this application uses it, else a transient one over the same
   * store with default options, which is not registered (so it never conflicts with the options
   * a decorator or stage registers later, and `circuitNames()` lists only names in use).
   */
  lookupCircuit(name: string): CircuitBreakerPolicy {
    const existing = this.circuits.get(name);
    if (existing !== undefined) return existing;
    const { clock, events, stores } = this.deps;
    return new CircuitBreakerPolicy(name, {}, stores.circuitBreaker, { clock, events });
  }

  guard(name: string, options: BackpressureOptions): BackpressureGuard {
    return this.shared(this.guards, name, resolveBackpressureOptions(options), () => {
      const { clock, events, stores, logger } = this.deps;
      return new BackpressureGuard(options, stores.backpressure, { clock, events, name, logger });
    });
  }

  deduplicator(name: string, options: DedupeOptions): Deduplicator {
    return this.shared(this.deduplicators, name, resolveDedupeOptions(options), () => {
      const { clock, events, stores } = this.deps;
      return new Deduplicator(options, stores.dedupe, { clock, events, name });
    });
  }

  circuitNames(): string[] {
    return [...this.circuits.keys()];
  }

  guardNames(): string[] {
    return [...this.guards.keys()];
  }

  dedupeNames(): string[] {
    return [...this.deduplicators.keys()];
  }

  existingGuard(name: string): BackpressureGuard | undefined {
    return this.guards.get(name);
  }

  existingDeduplicator(name: string): Deduplicator | undefined {
    return this.deduplicators.get(name);
  }

  private retryPolicy(name: string, options: RetryOptions): RetryPolicy {
    const { clock, events } = this.deps;
    return new RetryPolicy(options, { clock, events, name });
  }

  /** Finds the options a spec refers to, and the name its state is kept under. */
  private resolveRef(spec: PolicySpec, owner: LayerOwner): { name: string; options: object } {
    if (typeof spec.ref !== 'string') {
      const options = (spec.ref ?? {}) as { name?: string };
      return { name: options.name ?? owner.id, options };
    }
    const policy = this.deps.policies[spec.ref];
    const section = policy?.[spec.kind] as { name?: string } | undefined;
    if (section === undefined) throw this.unknownPolicy(spec, owner, policy !== undefined);
    return { name: section.name ?? owner.id, options: section };
  }

  private unknownPolicy(spec: PolicySpec, owner: LayerOwner, exists: boolean): InvalidOptionsError {
    const known = Object.keys(this.deps.policies).map((n) => JSON.stringify(n));
    const knownText =
      known.length > 0 ? `known policies: ${known.join(', ')}` : 'no policy is defined';
    const problem = exists
      ? `names policy "${String(spec.ref)}", which has no "${spec.kind}" section (${knownText})`
      : `names policy "${String(spec.ref)}", which OrchestratorModule.forRoot({ policies }) does not define (${knownText})`;
    return new InvalidOptionsError(owner.describe(spec.kind, spec.ref), problem);
  }

  /** One primitive per name; a second user of the name must agree on its resolved options. */
  private shared<T extends { options: object }>(
    registry: Map<string, T>,
    name: string,
    resolved: object,
    create: () => T,
  ): T {
    const existing = registry.get(name);
    if (existing === undefined) {
      const created = create();
      registry.set(name, created);
      return created;
    }
    const conflict = firstDifference(existing.options, resolved);
    if (conflict !== undefined) {
      throw new InvalidOptionsError(
        `"${name}"`,
        `is configured twice with different options (${conflict}); give one of them another name, or move the options into one named policy`,
      );
    }
    return existing;
  }
}

/** Settings each method brings for itself, so users of one name need not agree on them. */
const PER_METHOD_SETTINGS = new Set(['name', 'key']);

/**
 * The first setting on which two resolved option objects differ, described; functions compare
 * by identity (a named policy shares one), so two inline `isFailure` lambdas differ.
 */
function firstDifference(first: object, second: object): string | undefined {
  const a = first as Record<string, unknown>;
  const b = second as Record<string, unknown>;
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (PER_METHOD_SETTINGS.has(key) || Object.is(a[key], b[key])) continue;
    return typeof a[key] === 'function' || typeof b[key] === 'function'
      ? `two different ${key} functions`
      : `${key}: ${describeSetting(a[key])} vs ${describeSetting(b[key])}`;
  }
  return undefined;
}

function describeSetting(value: unknown): string {
  return value === undefined ? 'not set' : String(value);
}
