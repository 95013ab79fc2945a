import { InvalidOptionsError } from '../core/invalid-options.error.js';
import { check, fieldPath } from '../core/validate.js';

/**
 * Options of `@Timeout` and of a policy's `timeout` section; a number means `{ ms }`.
 *
 * @publicApi
 */
export interface TimeoutOptions {
  /** Longest an attempt may run, in ms; a stream's attempt runs until the stream ends. > 0 */
  ms: number;
  /** Streams: longest wait for the first item, in ms; <= ms. */
  firstItemMs?: number;
  /** Streams: longest gap between two items, in ms (the wait for the first one excluded). */
  idleMs?: number;
}

export interface ResolvedTimeoutOptions {
  readonly ms: number;
  readonly firstItemMs?: number;
  readonly idleMs?: number;
}

/** Node's timer limit: a longer delay fires at once (with a warning) instead of later. */
export const MAX_TIMEOUT_MS = 2_147_483_647;

const KNOWN_KEYS: readonly string[] = ['ms', 'firstItemMs', 'idleMs'];

/**
 * Validates timeout options; `scope` prefixes the error path, e.g. `policy "openai"`.
 * Refused, with the field named: a missing `ms`, a duration that is not a finite number in
 * (0, 2_147_483_647], a `firstItemMs` above `ms`, and keys that are not timeout options.
 */
export function resolveTimeoutOptions(
  options: number | TimeoutOptions,
  scope = '',
): ResolvedTimeoutOptions {
  const at = (field: string) => fieldPath(scope, field ? `timeout.${field}` : 'timeout');
  if (typeof options === 'number') options = { ms: options };
  check(typeof options === 'object' && options !== null, at(''), 'a number or an object', options);
  for (const key of Object.keys(options)) {
    if (!KNOWN_KEYS.includes(key)) {
      throw new InvalidOptionsError(
        at(key),
        `is not a timeout option (known: ${KNOWN_KEYS.join(', ')})`,
      );
    }
  }
  const { ms, firstItemMs, idleMs } = options;
  checkDuration(at('ms'), ms);
  if (firstItemMs !== undefined) {
    checkDuration(at('firstItemMs'), firstItemMs);
    check(firstItemMs <= ms, at('firstItemMs'), `<= ms (${ms})`, firstItemMs);
  }
  if (idleMs !== undefined) checkDuration(at('idleMs'), idleMs);
  return { ms, firstItemMs, idleMs };
}

function checkDuration(path: string, value: unknown): void {
  const ok =
    typeof value === 'number' && Number.isFinite(value) && value > 0 && value <= MAX_TIMEOUT_MS;
  check(ok, path, `a finite number of ms > 0 and <= ${MAX_TIMEOUT_MS}`, value);
}
