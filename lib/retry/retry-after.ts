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
  return parseRetryAfter(readHeader(headers, 'retry-after'), now);
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
