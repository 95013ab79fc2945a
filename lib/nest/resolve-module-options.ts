import { check, checkObject } from '../core/validate.js';
import { validatePolicies } from '../runtime/policy-options.js';
import type { OrchestratorModuleOptions } from './orchestrator-options.interface.js';

const STORE_METHODS = {
  circuitBreaker: ['admit', 'record', 'snapshot', 'force'],
  dedupe: ['claim', 'complete', 'fail', 'renew', 'forget', 'size'],
  backpressure: ['acquire', 'release', 'renew', 'depth'],
} as const;

/** Validates module options, sync or async alike; throws `InvalidOptionsError` at bootstrap. */
export function resolveModuleOptions(
  options: OrchestratorModuleOptions | undefined,
): OrchestratorModuleOptions {
  const resolved = options ?? {};
  checkObject('OrchestratorModule options', resolved);
  validatePolicies(resolved.policies);
  for (const [primitive, store] of Object.entries(resolved.stores ?? {})) {
    if (store === undefined) continue;
    const methods: readonly string[] = STORE_METHODS[primitive as keyof typeof STORE_METHODS] ?? [];
    const ok =
      typeof store === 'object' && methods.every((m) => typeof (store as any)[m] === 'function');
    check(
      ok,
      `OrchestratorModule options: stores.${primitive}`,
      `a store with ${methods.join(', ')}`,
      store,
    );
  }
  return resolved;
}
