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

export function checkInteger(path: string, value: unknown, min: number): void {
  check(Number.isInteger(value) && (value as number) >= min, path, `an integer >= ${min}`, value);
}

export function checkNumber(path: string, value: unknown, min: number): void {
  const ok = typeof value === 'number' && !Number.isNaN(value) && value >= min;
  check(ok, path, `a number >= ${min}`, value);
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
