import {
  checkFunction,
  checkInteger,
  checkDuration,
  checkObject,
  checkString,
  definedOnly,
  fieldPath,
} from '../core/validate.js';

/**
 * Options of `@Dedupe` and of a policy's `dedupe` section. `A` is the decorated method's
 * argument list, so a `key` function is checked against the method it is written on.
 *
 * @publicApi
 */
export interface DedupeOptions<A extends unknown[] = any[]> {
  /** The dedupe's name: methods (and processes, through a shared store) with one name share it. */
  name?: string;
  /**
   * Derives the key from the method's arguments; calls with equal keys share one execution.
   * @default SHA-256 of a canonical serialisation of the arguments (object keys sorted)
   */
  key?: (...args: A) => string;
  /**
   * How long a completed result is served from the cache, in ms; `0` shares in-flight calls
   * only. A stream's finished sequence is cached too, unless it is longer than
   * `DEDUPE_STREAM_CACHE_LIMIT` items. @default 0
   */
  ttlMs?: number;
  /** Bound of the in-memory cache per name; the least recently used entry is evicted. @default 10_000 */
  maxEntries?: number;
  /**
   * How long a claim on a key outlives a process that stopped renewing it (a crashed owner),
   * in ms. A live owner renews its claim every `leaseMs / 3`. @default 30_000
   */
  leaseMs?: number;
}

export interface ResolvedDedupeOptions {
  name?: string;
  key?: (...args: any[]) => string;
  ttlMs: number;
  maxEntries: number;
  leaseMs: number;
}

/**
 * The longest stream whose finished sequence is cached (with `ttlMs > 0`). A longer stream is
 * still shared while it runs, but it stops accepting late joiners (who would need every item
 * from the first) and its items are dropped once every consumer has read them.
 *
 * @publicApi
 */
export const DEDUPE_STREAM_CACHE_LIMIT = 10_000;

/**
 * The defaults of `DedupeOptions`.
 *
 * @publicApi
 */
export const DEFAULT_DEDUPE_OPTIONS: Readonly<ResolvedDedupeOptions> = {
  ttlMs: 0,
  maxEntries: 10_000,
  leaseMs: 30_000,
};

/** Merges defaults and validates; `scope` prefixes the error path, e.g. `policy "openai"`. */
export function resolveDedupeOptions(
  options: DedupeOptions = {},
  scope = '',
): ResolvedDedupeOptions {
  const at = (field: string) => fieldPath(scope, `dedupe${field ? `.${field}` : ''}`);
  checkObject(at(''), options);
  const resolved: ResolvedDedupeOptions = { ...DEFAULT_DEDUPE_OPTIONS, ...definedOnly(options) };
  if (resolved.name !== undefined) checkString(at('name'), resolved.name);
  if (resolved.key !== undefined) checkFunction(at('key'), resolved.key);
  checkDuration(at('ttlMs'), resolved.ttlMs, 0);
  checkInteger(at('maxEntries'), resolved.maxEntries, 1);
  checkDuration(at('leaseMs'), resolved.leaseMs, 1);
  return resolved;
}
