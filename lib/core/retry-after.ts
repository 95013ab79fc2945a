import { isOrchestratorError } from './orchestrator.error.js';
/**
 * Reads how long a failed call asks to be left alone, in ms, from the shapes that LLM SDKs
 * (openai, @anthropic-ai/sdk) and HTTP clients use: `retryAfterMs`, then the headers
 * `retry-after-ms` (ms) and `retry-after` (seconds or an HTTP date), on `error.headers` or
 * `error.response.headers`, as a `Headers` object or a plain record.
 */
export function retryAfterHintMs(error: unknown, now: number = Date.now()): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const direct = (error as { retryAfterMs?: unknown }).retryAfterMs;
  if (typeof direct === 'number' && Number.isFinite(direct) && direct >= 0) return direct;
  const headers =
    (error as { headers?: unknown }).headers ??
    (error as { response?: { headers?: unknown } }).response?.headers;
  if (headers === undefined || headers === null) return undefined;
  const msHeader = readHeader(headers, 'retry-after-ms');
  const ms = msHeader === undefined || msHeader.trim() === '' ? NaN : Number(msHeader);
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const retryAfter = parseRetryAfter(readHeader(headers, 'retry-after'), now);
  return retryAfter ?? (statusOf(error) === 429 ? rateLimitResetMs(headers) : undefined);
}

/**
 * How long a rate-limited failure (a 429, or an error without a status that carries a hint)
 * asks every caller to pause, in ms: the Retry-After hint, else OpenAI's
 * `x-ratelimit-reset-requests` / `x-ratelimit-reset-tokens` (the later of the two).
 */
export function rateLimitResetHintMs(error: unknown, now: number = Date.now()): number | undefined {
  // The library's own refusals (an open circuit below the limiter) carry a `retryAfterMs` too,
  // but they say nothing of the provider's limits: they never pause the limiter.
  if (isOrchestratorError(error)) return undefined;
  const status = statusOf(error);
  if (status !== undefined && status !== 429) return undefined;
  const hint = retryAfterHintMs(error, now);
  if (hint !== undefined) return hint;
  const headers = headersOf(error);
  return headers === undefined ? undefined : rateLimitResetMs(headers);
}

function headersOf(error: unknown): unknown {
  if (typeof error !== 'object' || error === null) return undefined;
  return (
    (error as { headers?: unknown }).headers ??
    (error as { response?: { headers?: unknown } }).response?.headers ??
    undefined
  );
}

/** The HTTP status an SDK error carries (`status`, `statusCode` or `response.status`). */
function statusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const candidate =
    (error as { status?: unknown }).status ??
    (error as { statusCode?: unknown }).statusCode ??
    (error as { response?: { status?: unknown } }).response?.status;
  return typeof candidate === 'number' ? candidate : undefined;
}

function rateLimitResetMs(headers: unknown): number | undefined {
  const resets = ['x-ratelimit-reset-requests', 'x-ratelimit-reset-tokens']
    .map((name) => parseResetDuration(readHeader(headers, name)))
    .filter((ms): ms is number => ms !== undefined);
  return resets.length > 0 ? Math.max(...resets) : undefined;
}

const DURATION =
  /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$/;

/** OpenAI's reset durations: `1m30s`, `6m0s`, `250ms`, `1.5s`, `2h`; a bare number is seconds. */
export function parseResetDuration(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const match = DURATION.exec(text);
  if (match === null) return undefined;
  const [, h = '0', m = '0', sec = '0', ms = '0'] = match;
  return Number(h) * 3_600_000 + Number(m) * 60_000 + Number(sec) * 1000 + Number(ms);
}

function readHeader(headers: unknown, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') {
    return (headers as Headers).get(name) ?? undefined;
  }
  if (typeof headers !== 'object') return undefined;
  for (const [key, value] of Object.entries(headers as Record<string, unknown>)) {
    if (key.toLowerCase() !== name) continue;
    if (Array.isArray(value)) return value[0] === undefined ? undefined : String(value[0]);
    return value === undefined || value === null ? undefined : String(value);
  }
  return undefined;
}

/** `Retry-After` is either delta-seconds or an HTTP date. */
function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
