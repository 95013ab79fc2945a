// STUB: replaced by the @Dedupe implementation (issue 3).
export interface DedupeOptions {
  name?: string;
  key?: (...args: any[]) => string;
  ttlMs?: number;
  maxEntries?: number;
}
export type ResolvedDedupeOptions = DedupeOptions;
export function resolveDedupeOptions(options: DedupeOptions = {}, _scope = ''): ResolvedDedupeOptions {
  return options;
}
