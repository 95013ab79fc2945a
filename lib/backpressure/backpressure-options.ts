// STUB: replaced by the @Backpressure implementation (issue 3).
export interface BackpressureOptions {
  name?: string;
  capacity: number;
  softLimit?: number;
  maxWaitMs?: number;
  maxQueue?: number;
}
export type ResolvedBackpressureOptions = BackpressureOptions;
export function resolveBackpressureOptions(
  options: BackpressureOptions,
  _scope = '',
): ResolvedBackpressureOptions {
  return options;
}
