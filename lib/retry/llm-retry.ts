import { isOrchestratorError, isOrchestratorRefusal } from '../core/orchestrator.error.js';

/** HTTP statuses below 500 that LLM APIs use for trouble a later attempt can get past. */
const RETRYABLE_4XX: ReadonlySet<number> = new Set([408, 409, 429]);

/** Error classes of the openai and @anthropic-ai/sdk clients (both Stainless-generated). */
const CONNECTION_ERROR_CLASSES: ReadonlySet<string> = new Set([
  'APIConnectionError',
  'APIConnectionTimeoutError',
]);

/** A caller that cancelled does not want the call again. */
const ABORT_ERROR_NAMES: ReadonlySet<string> = new Set(['APIUserAbortError', 'AbortError']);

/** Socket-level failures of Node, undici and HTTP clients that a new connection can fix. */
const TRANSIENT_NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/**
 * Error `type`s that providers put in an error body (or an `error` event of a stream, where
 * the SDKs raise an `APIError` without a status) for transient trouble.
 */
const TRANSIENT_ERROR_TYPES: ReadonlySet<string> = new Set([
  'server_error',
  'api_error',
  'overloaded_error',
  'rate_limit_error',
  'rate_limit_exceeded',
  'service_unavailable',
]);

const MAX_CAUSE_DEPTH = 5;

/**
 * A `retryOn` filter for calls to LLM APIs. It understands the errors of the `openai` and
 * `@anthropic-ai/sdk` clients without importing them, by their shape:
 *
 * - never retried: this library's own rejections (an open circuit, a shed call, ...) and
 *   cancellations (`APIUserAbortError`, `AbortError`);
 * - a server's `x-should-retry: true|false` header decides first, as the SDKs do;
 * - an HTTP status (`status`, `statusCode`, `response.status` or `getStatus()`): 408, 409, 429
 *   and every 5xx (including Anthropic's 529 "overloaded") are retried, other 4xx are not;
 * - without a status: connection errors (`APIConnectionError`, `APIConnectionTimeoutError`,
 *   or a socket `code` such as `ECONNRESET` anywhere in the `cause` chain) and stream error
 *   events of a transient `type` (`server_error`, `overloaded_error`, ...) are retried;
 *   anything else (a bug, a parsing error, a content-filter stop) is not.
 *
 * Pair it with `honorRetryAfter` (on by default) so that a 429's `retry-after-ms` or
 * `retry-after` header sets the wait.
 *
 * @publicApi
 * @example
 * OrchestratorModule.forRoot({
 *   policies: { openai: { retry: { maxAttempts: 4, retryOn: isRetryableLlmError } } },
 * });
 */
export function isRetryableLlmError(error: unknown, _attempt?: number): boolean {
  if (typeof error !== 'object' || error === null) return false;
  // A timed-out attempt (`@Timeout`) is the provider not answering: retried, like a 504.
  if (isOrchestratorError(error)) return !isOrchestratorRefusal(error);
  if (isAbort(error)) return false;
  const shouldRetry = shouldRetryHeader(error);
  if (shouldRetry !== undefined) return shouldRetry;
  const status = httpStatusOf(error);
  if (status !== undefined) return status >= 500 || RETRYABLE_4XX.has(status);
  if (isConnectionError(error)) return true;
  return TRANSIENT_ERROR_TYPES.has(errorTypeOf(error) ?? '');
}

function isAbort(error: object): boolean {
  return classNames(error).some((name) => ABORT_ERROR_NAMES.has(name));
}

/** The error's class name and those of its ancestors, plus its `name` property. */
function classNames(error: object): string[] {
  const names: string[] = [];
  const own = (error as { name?: unknown }).name;
  if (typeof own === 'string') names.push(own);
  for (let proto = Object.getPrototypeOf(error); proto && proto !== Object.prototype;) {
    const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof name === 'string') names.push(name);
    proto = Object.getPrototypeOf(proto);
  }
  return names;
}

function httpStatusOf(error: object): number | undefined {
  const candidates: unknown[] = [
    (error as { status?: unknown }).status,
    (error as { statusCode?: unknown }).statusCode,
    (error as { response?: { status?: unknown } }).response?.status,
  ];
  const getStatus = (error as { getStatus?: unknown }).getStatus;
  if (typeof getStatus === 'function') candidates.push(safely(() => getStatus.call(error)));
  for (const candidate of candidates) {
    const status = typeof candidate === 'string' ? Number(candidate) : candidate;
    if (typeof status === 'number' && Number.isInteger(status) && status >= 100 && status < 600) {
      return status;
    }
  }
  return undefined;
}

function shouldRetryHeader(error: object): boolean | undefined {
  const headers =
    (error as { headers?: unknown }).headers ??
    (error as { response?: { headers?: unknown } }).response?.headers;
  const value = readHeader(headers, 'x-should-retry')?.trim().toLowerCase();
  if (value === 'true') return true;
  if (value === 'false') return false;
  return undefined;
}

function readHeader(headers: unknown, name: string): string | undefined {
  if (typeof headers !== 'object' || headers === null) return undefined;
  if (typeof (headers as Headers).get === 'function') {
    return safely(() => (headers as Headers).get(name)) ?? undefined;
  }
  for (const [key, value] of Object.entries(headers as Record<string, unknown>)) {
    if (key.toLowerCase() !== name) continue;
    const first: unknown = Array.isArray(value) ? value[0] : value;
    return first === undefined || first === null ? undefined : String(first);
  }
  return undefined;
}

/** A connection error class, or a transient socket code on the error or in its causes. */
function isConnectionError(error: object): boolean {
  if (classNames(error).some((name) => CONNECTION_ERROR_CLASSES.has(name))) return true;
  let current: unknown = error;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH; depth++) {
    if (typeof current !== 'object' || current === null) return false;
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && TRANSIENT_NETWORK_CODES.has(code)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * The provider's error type: `error.type` (openai's `APIError.type`), or the body's
 * `error.type`, or a nested `error.error.type` (Anthropic's `{ type: 'error', error: {...} }`).
 */
function errorTypeOf(error: object): string | undefined {
  const body = (error as { error?: unknown }).error;
  const candidates: unknown[] = [
    (error as { type?: unknown }).type,
    (body as { type?: unknown } | undefined)?.type,
    (body as { error?: { type?: unknown } } | undefined)?.error?.type,
    (error as { code?: unknown }).code,
  ];
  for (const candidate of candidates) {
    if (typeof candidate === 'string' && TRANSIENT_ERROR_TYPES.has(candidate)) return candidate;
  }
  return undefined;
}

function safely<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}
