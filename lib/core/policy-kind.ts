import type { Clock } from './clock.js';
import type { EventSink } from './events.js';
import type { Layer } from './layer.js';

/** What every primitive of an application is built with. */
export interface PrimitiveContext<S> {
  readonly store: S;
  readonly clock: Clock;
  readonly events: EventSink;
  readonly logger?: { warn(message: string): void };
}

/** What one method (or pipeline stage) hands a kind to build its layer. */
export interface LayerContext<P, O> {
  /** The shared primitive of `name` (undefined for kinds without one). */
  readonly primitive: P;
  /** The name state is kept under, or events are labelled with. */
  readonly name: string;
  /** The section's options as given (not merged with the defaults). */
  readonly options: O;
  readonly clock: Clock;
  readonly events: EventSink;
  /** The owner's id, `Class.method` or `<pipeline>.<stage>`. */
  readonly owner: string;
  /** The primitive of another (shared) kind called `name`, e.g. a retry budget. */
  share<Q>(kind: SharedKind<string, any, Q>, name: string, options: object): Q;
}

/**
 * The store of a kind: its abstract class (the Nest injection token), the methods a custom
 * store must have, and the in-memory default.
 */
export interface StoreSpec<S> {
  /** The application store this kind uses, when it borrows another kind's. @default its section */
  readonly key?: string;
  readonly token: abstract new (...args: any[]) => S;
  readonly methods: readonly string[];
  inMemory(clock: Clock): S;
}

/**
 * State shared by name: what the engine needs to build, validate and share one primitive per
 * name. A policy kind is one; a retry budget (shared, but with no decorator) is one too.
 *
 * `N` is the section name (`'retry'`), `O` the options a user writes, `P` the primitive shared
 * by every user of one name, `S` the store.
 */
export interface SharedKind<N extends string = string, O extends object = any, P = any, S = any> {
  /** The section of a named policy, `policies.<name>.<section>`, and the store's key. */
  readonly section: N;
  /**
   * Where a named policy keeps this kind's state: under the policy's name (one circuit per
   * downstream) or per method (dedupe results, unless a `name` says otherwise).
   */
  readonly namedState: 'policy' | 'method';
  /** The keys a section may have; any other fails validation, naming the closest one. */
  readonly optionKeys: readonly string[];
  /** Settings each user of a shared name brings for itself (never compared between users). */
  readonly perMethodSettings?: readonly string[];
  /** Turns a shorthand section into its options object (`timeout: 5000` into `{ ms: 5000 }`). */
  normalize?(section: unknown): unknown;
  /** Validates a section, merges the defaults; throws `InvalidOptionsError` naming the field. */
  resolve(options: O | undefined, scope: string): object;
  readonly store?: StoreSpec<S>;
  /** Builds the primitive users of one name share; absent for kinds without shared state. */
  createPrimitive?(name: string, options: O, context: PrimitiveContext<S>): P;
}

/**
 * Everything the engine needs to know about one policy kind. Each kind's folder exports one;
 * the list of kinds (lib/kinds.ts) is the only place that names them all.
 */
export interface PolicyKind<
  N extends string = string,
  O extends object = any,
  P = any,
  S = any,
> extends SharedKind<N, O, P, S> {
  /** How errors name the decorator, e.g. `@Retry`. */
  readonly decorator: string;
  createLayer(context: LayerContext<P, O>): Layer;
}

/** A kind's options type. */
export type OptionsOf<K> = K extends PolicyKind<string, infer O> ? O : never;
/** A kind's store type. */
export type StoreOf<K> = K extends PolicyKind<string, any, any, infer S> ? S : never;
