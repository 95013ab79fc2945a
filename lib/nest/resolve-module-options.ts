import { InvalidOptionsError } from '../core/invalid-options.error.js';
import { check, checkObject } from '../core/validate.js';
import { STORED_KINDS, validatePolicies } from '../kinds/policy-kinds.js';
import type { OrchestratorModuleOptions } from './orchestrator-options.interface.js';

const STORE_METHODS: Readonly<Record<string, readonly string[]>> = Object.fromEntries(
  STORED_KINDS.map((kind) => [kind.section, kind.store!.methods]),
);

/** Validates module options, sync or async alike; throws `InvalidOptionsError` at bootstrap. */
export function resolveModuleOptions(
  options: OrchestratorModuleOptions | undefined,
): OrchestratorModuleOptions {
  const resolved = options ?? {};
  checkObject('OrchestratorModule options', resolved);
  validatePolicies(resolved.policies);
  for (const [primitive, store] of Object.entries(resolved.stores ?? {})) {
    if (store !== undefined) checkStore(primitive, store);
  }
  return resolved;
}

function checkStore(primitive: string, store: unknown): void {
  const path = `OrchestratorModule options: stores.${primitive}`;
  if (!(primitive in STORE_METHODS)) {
    const kinds = Object.keys(STORE_METHODS).join(', ');
    throw new InvalidOptionsError(path, `is not a store kind; use one of ${kinds}`);
  }
  const methods = STORE_METHODS[primitive];
  const ok =
    typeof store === 'object' &&
    store !== null &&
    methods.every((m) => typeof (store as Record<string, unknown>)[m] === 'function');
  check(ok, path, `a store with ${methods.join(', ')}`, store);
}
