import { InvalidOptionsError } from './invalid-options.error.js';

/** Renders a received value for an error message: strings quoted, functions named. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (typeof value === 'object' && value !== null) {
    try {
      return JSON.stringify(value);
    } catch {
      return Object.prototype.toString.call(value);
    }
  }
  return String(value);
}

/** Throws `<path> should be <rule>, got <value>` unless `ok`. */
export function check(ok: boolean, path: string, rule: string, value: unknown): void {
  if (!ok) throw new InvalidOptionsError(path, `should be ${rule}, got ${describeValue(value)}`);
}

/** The longest delay Node's timers honour; a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647;

/** A count: a finite (safe) integer `>= min`. */
export function checkInteger(path: string, value: unknown, min: number): void {
  const ok = Number.isSafeInteger(value) && (value as number) >= min;
  check(ok, path, `an integer >= ${min}`, value);
}

/** A finite number `>= min`. */
export function checkNumber(path: string, value: unknown, min: number): void {
  const ok = typeof value === 'number' && Number.isFinite(value) && value >= min;
  check(ok, path, `a ${finiteIfNeeded(value)}number >= ${min}`, value);
}

/** A duration in ms: finite, `>= min` and within Node's timer limit (never clamped silently). */
export function checkDuration(path: string, value: unknown, min: number): void {
  const ok =
    typeof value === 'number' && Number.isFinite(value) && value >= min && value <= MAX_TIMER_MS;
  const tooLong = typeof value === 'number' && Number.isFinite(value) && value > MAX_TIMER_MS;
  const rule = tooLong
    ? `at most ${MAX_TIMER_MS} ms (Node's timer limit)`
    : `a ${finiteIfNeeded(value)}number >= ${min}`;
  check(ok, path, rule, value);
}

/** Says "finite" only when that is what was wrong, so ordinary messages stay short. */
function finiteIfNeeded(value: unknown): string {
  return typeof value === 'number' && !Number.isFinite(value) ? 'finite ' : '';
}

/**
 * Refuses a key the options do not have, naming the closest known one: a misspelt
 * `baseDelay` would otherwise be ignored and the defaults run.
 */
export function checkKnownKeys(path: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const closest = closestName(key, known);
    const hint = closest === undefined ? `known: ${known.join(', ')}` : `did you mean ${closest}?`;
    throw new InvalidOptionsError(`${path}.${key}`, `is not an option; ${hint}`);
  }
}

/** The known name nearest to `name` (edit distance, or a shared prefix), if any is close. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const lower = name.toLowerCase();
  for (const candidate of known) {
    const other = candidate.toLowerCase();
    const distance =
      other.startsWith(lower) || lower.startsWith(other) ? 1 : editDistance(lower, other);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length];
}

export function checkFunction(path: string, value: unknown): void {
  check(typeof value === 'function', path, 'a function', value);
}

export function checkString(path: string, value: unknown): void {
  check(typeof value === 'string' && value.length > 0, path, 'a non-empty string', value);
}

export function checkOneOf(path: string, value: unknown, allowed: readonly unknown[]): void {
  check(allowed.includes(value), path, `one of ${allowed.map(describeValue).join(', ')}`, value);
}

export function checkObject(path: string, value: unknown): void {
  check(typeof value === 'object' && value !== null, path, 'an object', value);
}

/** Joins a scope (`policy "openai"`) and a field path (`retry.maxAttempts`). */
export function fieldPath(scope: string, field: string): string {
  return scope ? `${scope}: ${field}` : field;
}

/** Drops keys whose value is `undefined`, so they do not override defaults. */
export function definedOnly<T extends object>(options: T): Partial<T> {
  const result: Partial<T> = {};
  for (const key of Object.keys(options) as (keyof T)[]) {
    if (options[key] !== undefined) result[key] = options[key];
  }
  return result;
}
