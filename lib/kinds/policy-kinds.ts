import { backpressureKind } from '../backpressure/backpressure.kind.js';
import { circuitBreakerKind } from '../circuit-breaker/circuit-breaker.kind.js';
import type { OptionsOf, PolicyKind } from '../core/policy-kind.js';
import { PolicyEngine } from '../core/policy-engine.js';
import { InvalidOptionsError } from '../core/invalid-options.error.js';
import { checkObject, closestName } from '../core/validate.js';
import { dedupeKind } from '../dedupe/dedupe.kind.js';
import { rateLimitKind } from '../rate-limit/rate-limit.kind.js';
import { retryKind } from '../retry/retry.kind.js';
import { timeoutKind } from '../timeout/timeout.kind.js';

/**
 * Every policy kind, in composition order (outermost first): the order of a pipeline stage's
 * layers and the order the README recommends for stacked decorators (with `@Fallback`, which
 * has no policy section, above them all). The only place that names
 * every kind: the module's store providers, the option sections and validation read it. A new
 * kind is one folder and one line here.
 */
export const POLICY_KINDS = [
  backpressureKind,
  rateLimitKind,
  dedupeKind,
  circuitBreakerKind,
  retryKind,
  timeoutKind,
] as const;

type Kind = (typeof POLICY_KINDS)[number];
type KindWithStore = Extract<Kind, { store: object }>;

/**
 * A named policy: the sections a decorator or a pipeline stage can refer to by name.
 *
 * @publicApi
 */
export type PolicyOptions = { [K in Kind as K['section']]?: SectionOf<K> };

/** What a section may be: its options, or a shorthand its kind normalises (a timeout's ms). */
type SectionOf<K> = K extends { normalize: Function } ? OptionsOf<K> | number : OptionsOf<K>;

/**
 * The stores behind the primitives; each is swappable (`forRoot({ stores })`).
 *
 * @publicApi
 */
export type OrchestratorStores = {
  [K in KindWithStore as K['section']]: InstanceType<K['store']['token']>;
};

/** The kinds that keep state in a store, in composition order. */
export const STORED_KINDS: readonly PolicyKind[] = POLICY_KINDS.filter((kind) => 'store' in kind);

const SECTIONS: readonly string[] = POLICY_KINDS.map((kind) => kind.section);

/** Validates every section of every policy; throws the first `InvalidOptionsError`. */
export function validatePolicies(policies: Record<string, PolicyOptions> | undefined): void {
  if (policies === undefined) return;
  checkObject('OrchestratorModule options: policies', policies);
  for (const [name, policy] of Object.entries(policies)) validatePolicy(policy, `policy "${name}"`);
}

/** Validates one policy's sections (named or a stage's inline policy). */
export function validatePolicy(policy: PolicyOptions, scope: string): void {
  checkObject(scope, policy);
  const sections = policy as Record<string, unknown>;
  for (const key of Object.keys(sections)) {
    const kind = POLICY_KINDS.find((k) => k.section === key);
    if (kind === undefined) throw unknownSection(scope, key);
    if (sections[key] !== undefined) PolicyEngine.validateSection(kind, sections[key], scope);
  }
}

function unknownSection(scope: string, key: string): InvalidOptionsError {
  const closest = closestName(key, SECTIONS);
  const hint = closest === undefined ? '' : `did you mean ${closest}? `;
  return new InvalidOptionsError(
    `${scope}: ${key}`,
    `is not a policy section; ${hint}use one of ${SECTIONS.join(', ')}`,
  );
}
