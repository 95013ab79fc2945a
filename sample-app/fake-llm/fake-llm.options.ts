export interface FailNext {
  count: number;
  status: number;
}

/** Runtime-adjustable behaviour of the fake provider (see `FakeLlm.configure`). */
export interface FakeLlmBehaviour {
  /** Delay before any answer or injected error (not applied to hung requests). */
  latencyMs: number;
  /** Delay between streamed tokens. */
  tokenDelayMs: number;
  /** Probability (0..1) that a request fails with a 500. */
  failureRate: number;
  /** The next N requests get a 429. */
  rateLimitNext: number;
  /** Value of the `Retry-After` header on 429s. */
  retryAfterSeconds: number;
  /** When set, 429s also carry `retry-after-ms` (the openai SDK prefers it). */
  retryAfterMs: number | undefined;
  /** The next `count` requests get `status` (a 4xx/5xx). */
  failNext: FailNext;
  /** Every request gets a 503 while true. */
  outage: boolean;
  /** Every request is accepted and never answered while true. */
  hang: boolean;
  /** The next N requests are accepted and never answered. */
  hangNext: number;
  /**
   * Streams send this many tokens, then nothing more and never close (until the client leaves
   * or the server closes): a provider that stalls mid-answer. When the answer is shorter, every
   * token is sent and the stream stalls before its end. `undefined`: off.
   */
  stallAfterTokens: number | undefined;
  /** Streams wait this long after the headers before their first token (a slow first token). */
  firstTokenDelayMs: number;
  /**
   * When non-empty, the injected faults (outage, hang, rate limits, failures, stalls, slow first
   * token) apply only to requests for these models; the others are answered normally, so a
   * second model can stand in for a failing one. Empty (default): every model.
   */
  faultyModels: string[];
  /**
   * The provider's own limits, enforced like OpenAI's: requests and tokens (prompt + answer)
   * per minute, each a bucket refilled continuously; past them a 429 with `retry-after`. Every
   * answer carries `x-ratelimit-limit-*`, `x-ratelimit-remaining-*` and `x-ratelimit-reset-*`.
   * `undefined`: no limit (and no headers for it).
   */
  requestsPerMinute: number | undefined;
  tokensPerMinute: number | undefined;
}

export type FakeLlmConfig = Partial<FakeLlmBehaviour>;

export interface FakeLlmOptions extends FakeLlmConfig {
  /** Port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  /** Source of randomness for `failureRate`; inject for deterministic tests. */
  random?: () => number;
}

export const DEFAULT_BEHAVIOUR: Readonly<FakeLlmBehaviour> = Object.freeze({
  latencyMs: 0,
  tokenDelayMs: 0,
  failureRate: 0,
  rateLimitNext: 0,
  retryAfterSeconds: 1,
  retryAfterMs: undefined,
  failNext: { count: 0, status: 503 },
  outage: false,
  hang: false,
  hangNext: 0,
  stallAfterTokens: undefined,
  firstTokenDelayMs: 0,
  faultyModels: [],
  requestsPerMinute: 120,
  tokensPerMinute: 80_000,
});

type NumberKey = {
  [K in keyof FakeLlmBehaviour]: FakeLlmBehaviour[K] extends number ? K : never;
}[keyof FakeLlmBehaviour];

const NUMBER_KEYS: readonly NumberKey[] = [
  'latencyMs',
  'tokenDelayMs',
  'failureRate',
  'rateLimitNext',
  'retryAfterSeconds',
  'hangNext',
  'firstTokenDelayMs',
];
const INTEGER_KEYS: readonly NumberKey[] = ['rateLimitNext', 'hangNext'];
const BOOLEAN_KEYS = ['outage', 'hang'] as const;
/** Numbers that `null` turns off in a `POST /admin/config` body. */
const NULLABLE_NUMBER_KEYS: readonly string[] = [
  'retryAfterMs',
  'stallAfterTokens',
  'requestsPerMinute',
  'tokensPerMinute',
];

/** Merges a patch over the current behaviour; throws RangeError on invalid values. */
export function applyConfig(current: FakeLlmBehaviour, patch: FakeLlmConfig): FakeLlmBehaviour {
  const next: FakeLlmBehaviour = { ...current };
  for (const key of Object.keys(DEFAULT_BEHAVIOUR) as (keyof FakeLlmBehaviour)[]) {
    if (key in patch) Object.assign(next, { [key]: patch[key] });
  }
  next.failNext = { ...current.failNext, ...patch.failNext };
  next.faultyModels = [...next.faultyModels];
  validate(next);
  return next;
}

function validate(b: FakeLlmBehaviour): void {
  for (const key of NUMBER_KEYS) {
    const value = b[key];
    const integerOk = !INTEGER_KEYS.includes(key) || Number.isInteger(value);
    if (!Number.isFinite(value) || value < 0 || !integerOk) {
      throw new RangeError(`${key} must be a non-negative ${integerOk ? 'number' : 'integer'}`);
    }
  }
  if (b.failureRate > 1) throw new RangeError('failureRate must be within 0..1');
  if (b.retryAfterMs !== undefined && !(Number.isFinite(b.retryAfterMs) && b.retryAfterMs >= 0)) {
    throw new RangeError('retryAfterMs must be a non-negative number');
  }
  if (
    b.stallAfterTokens !== undefined &&
    !(Number.isInteger(b.stallAfterTokens) && b.stallAfterTokens >= 0)
  ) {
    throw new RangeError('stallAfterTokens must be a non-negative integer');
  }
  for (const key of ['requestsPerMinute', 'tokensPerMinute'] as const) {
    const limit = b[key];
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) {
      throw new RangeError(`${key} must be an integer >= 1 (null: no limit)`);
    }
  }
  if (
    !Array.isArray(b.faultyModels) ||
    !b.faultyModels.every((m) => typeof m === 'string' && m !== '')
  ) {
    throw new RangeError('faultyModels must be an array of model names');
  }
  const { count, status } = b.failNext;
  if (!Number.isInteger(count) || count < 0) {
    throw new RangeError('failNext.count must be a non-negative integer');
  }
  if (!Number.isInteger(status) || status < 400 || status > 599) {
    throw new RangeError('failNext.status must be an HTTP status within 400..599');
  }
}

/** Checks the JSON shape of a `POST /admin/config` body; `null` clears a nullable number. */
export function parseConfigPatch(raw: unknown): FakeLlmConfig {
  if (!isRecord(raw)) throw new TypeError('config must be a JSON object');
  const patch: FakeLlmConfig = {};
  for (const [key, value] of Object.entries(raw)) {
    Object.assign(patch, { [key]: parseConfigValue(key, value) });
  }
  return patch;
}

function parseConfigValue(key: string, value: unknown): unknown {
  if ((NUMBER_KEYS as readonly string[]).includes(key)) return expectType(key, value, 'number');
  if ((BOOLEAN_KEYS as readonly string[]).includes(key)) return expectType(key, value, 'boolean');
  if (NULLABLE_NUMBER_KEYS.includes(key)) {
    return value === null ? undefined : expectType(key, value, 'number');
  }
  if (key === 'faultyModels') return parseModels(value);
  if (key === 'failNext' && isRecord(value)) return parseFailNext(value);
  if (key === 'failNext') throw new TypeError('failNext must be an object { count, status }');
  throw new TypeError(`unknown config key "${key}"`);
}

function parseModels(value: unknown): string[] {
  if (!Array.isArray(value) || !value.every((m) => typeof m === 'string')) {
    throw new TypeError('faultyModels must be an array of strings');
  }
  return value as string[];
}

function parseFailNext(value: Record<string, unknown>): Partial<FailNext> {
  const failNext: Partial<FailNext> = {};
  if ('count' in value) failNext.count = expectType('failNext.count', value.count, 'number');
  if ('status' in value) failNext.status = expectType('failNext.status', value.status, 'number');
  return failNext;
}

function expectType<T extends 'number' | 'boolean'>(
  key: string,
  value: unknown,
  type: T,
): T extends 'number' ? number : boolean {
  if (typeof value !== type) throw new TypeError(`${key} must be a ${type}`);
  return value as T extends 'number' ? number : boolean;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads options from environment variables (unset or empty ones are ignored):
 *
 * - FAKE_LLM_PORT                 port to listen on (0 = any free port)
 * - FAKE_LLM_LATENCY_MS           delay before every answer or injected error
 * - FAKE_LLM_TOKEN_DELAY_MS       delay between streamed tokens
 * - FAKE_LLM_FAILURE_RATE         0..1 probability of a random 500
 * - FAKE_LLM_RATE_LIMIT_NEXT      the next N requests get a 429
 * - FAKE_LLM_RETRY_AFTER_SECONDS  `Retry-After` value on 429s (default 1)
 * - FAKE_LLM_RETRY_AFTER_MS       also send `retry-after-ms` on 429s
 * - FAKE_LLM_FAIL_NEXT            the next N requests fail with FAKE_LLM_FAIL_STATUS
 * - FAKE_LLM_FAIL_STATUS          status for FAKE_LLM_FAIL_NEXT (default 503)
 * - FAKE_LLM_OUTAGE               true/1: every request gets a 503
 * - FAKE_LLM_HANG                 true/1: every request is accepted and never answered
 * - FAKE_LLM_HANG_NEXT            the next N requests are never answered
 * - FAKE_LLM_STALL_AFTER_TOKENS   streams stop sending after N tokens and never close
 * - FAKE_LLM_FIRST_TOKEN_DELAY_MS delay before a stream's first token
 * - FAKE_LLM_FAULTY_MODELS        comma-separated models the faults apply to (default: all)
 * - FAKE_LLM_RPM                  requests per minute the provider allows (default 120)
 * - FAKE_LLM_TPM                  tokens per minute the provider allows (default 80000)
 *
 * Throws on malformed values so a typo fails fast instead of silently using defaults.
 */
export function fakeLlmOptionsFromEnv(
  env: Record<string, string | undefined> = process.env,
): FakeLlmOptions {
  const num = (name: string) => envNumber(env, name);
  const bool = (name: string) => envBoolean(env, name);
  const options: FakeLlmOptions = {
    port: num('FAKE_LLM_PORT'),
    latencyMs: num('FAKE_LLM_LATENCY_MS'),
    tokenDelayMs: num('FAKE_LLM_TOKEN_DELAY_MS'),
    failureRate: num('FAKE_LLM_FAILURE_RATE'),
    rateLimitNext: num('FAKE_LLM_RATE_LIMIT_NEXT'),
    retryAfterSeconds: num('FAKE_LLM_RETRY_AFTER_SECONDS'),
    retryAfterMs: num('FAKE_LLM_RETRY_AFTER_MS'),
    outage: bool('FAKE_LLM_OUTAGE'),
    hang: bool('FAKE_LLM_HANG'),
    hangNext: num('FAKE_LLM_HANG_NEXT'),
    stallAfterTokens: num('FAKE_LLM_STALL_AFTER_TOKENS'),
    firstTokenDelayMs: num('FAKE_LLM_FIRST_TOKEN_DELAY_MS'),
    faultyModels: envList(env, 'FAKE_LLM_FAULTY_MODELS'),
    requestsPerMinute: num('FAKE_LLM_RPM'),
    tokensPerMinute: num('FAKE_LLM_TPM'),
  };
  const failCount = num('FAKE_LLM_FAIL_NEXT');
  const failStatus = num('FAKE_LLM_FAIL_STATUS');
  if (failCount !== undefined || failStatus !== undefined) {
    options.failNext = {
      count: failCount ?? 0,
      status: failStatus ?? DEFAULT_BEHAVIOUR.failNext.status,
    };
  }
  return dropUndefined(options);
}

function envNumber(env: Record<string, string | undefined>, name: string): number | undefined {
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new TypeError(`${name} must be a number, got "${raw}"`);
  return value;
}

function envList(env: Record<string, string | undefined>, name: string): string[] | undefined {
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  return raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function envBoolean(env: Record<string, string | undefined>, name: string): boolean | undefined {
  const raw = env[name]?.trim().toLowerCase();
  if (!raw) return undefined;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new TypeError(`${name} must be a boolean (true/false/1/0), got "${raw}"`);
}

function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
