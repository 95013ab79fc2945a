import {
  check,
  checkInteger,
  checkDuration,
  checkObject,
  checkString,
  definedOnly,
  fieldPath,
} from '../core/validate.js';

/**
 * Options of `@Backpressure` and of a policy's `backpressure` section.
 *
 * @publicApi
 */
export interface BackpressureOptions {
  /** The guard's name: methods (and processes, through a shared store) with one name share its cap. */
  name?: string;
  /** Hard limit of calls in flight at once; an integer >= 1, no default. */
  capacity: number;
  /** Depth at which a soft-limit event and a (rate-limited) warning are raised; an integer < capacity. */
  softLimit?: number;
  /** How long a caller waits for a slot, in arrival order, before it is shed, in ms. @default 0 */
  maxWaitMs?: number;
  /** Callers allowed to wait at once; beyond it a caller is shed at once. @default unbounded */
  maxQueue?: number;
  /**
   * How long a slot outlives a process that stopped renewing it (a crashed holder), in stores
   * that lease slots (Redis); a live holder renews every `leaseMs / 3`. @default 30_000
   */
  leaseMs?: number;
}

export interface ResolvedBackpressureOptions {
  name?: string;
  capacity: number;
  softLimit?: number;
  maxWaitMs: number;
  maxQueue: number;
  leaseMs: number;
}

/**
 * The defaults of `BackpressureOptions` (`capacity` has none).
 *
 * @publicApi
 */
export const DEFAULT_BACKPRESSURE_OPTIONS: Readonly<Omit<ResolvedBackpressureOptions, 'capacity'>> =
  {
    maxWaitMs: 0,
    maxQueue: Infinity,
    leaseMs: 30_000,
  };

/** Merges defaults and validates; `scope` prefixes the error path, e.g. `policy "openai"`. */
export function resolveBackpressureOptions(
  options: BackpressureOptions,
  scope = '',
): ResolvedBackpressureOptions {
  const at = (field: string) => fieldPath(scope, `backpressure${field ? `.${field}` : ''}`);
  checkObject(at(''), options);
  // `capacity` has no default: it is checked below.
  const resolved = {
    ...DEFAULT_BACKPRESSURE_OPTIONS,
    ...definedOnly(options),
  } as ResolvedBackpressureOptions;
  if (resolved.name !== undefined) checkString(at('name'), resolved.name);
  checkInteger(at('capacity'), resolved.capacity, 1);
  if (resolved.softLimit !== undefined) checkSoftLimit(at('softLimit'), resolved);
  checkDuration(at('maxWaitMs'), resolved.maxWaitMs, 0);
  if (resolved.maxQueue !== Infinity) checkInteger(at('maxQueue'), resolved.maxQueue, 0);
  checkDuration(at('leaseMs'), resolved.leaseMs, 1);
  return resolved;
}

function checkSoftLimit(path: string, resolved: ResolvedBackpressureOptions): void {
  const { softLimit, capacity } = resolved;
  const ok = Number.isInteger(softLimit) && softLimit! >= 1 && softLimit! < capacity;
  check(ok, path, `an integer >= 1 and < capacity (${capacity})`, softLimit);
}
