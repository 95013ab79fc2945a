import type { FakeLlmBehaviour } from './fake-llm.options.js';
import { errorBody } from './openai-format.js';
import type { FailureKind } from './fake-llm.stats.js';

export interface FaultResponse {
  status: number;
  headers: Record<string, string>;
  body: ReturnType<typeof errorBody>;
}

/**
 * Picks the failure to inject for the next request, if any, consuming one-shot counters
 * (`hangNext`, `rateLimitNext`, `failNext.count`) in `behaviour`. Precedence: outage, hang,
 * rate limit, failNext burst, then the random failure rate.
 */
export function takeFault(
  behaviour: FakeLlmBehaviour,
  random: () => number,
): FailureKind | undefined {
  if (behaviour.outage) return 'outage';
  if (behaviour.hang) return 'hang';
  if (behaviour.hangNext > 0) {
    behaviour.hangNext--;
    return 'hang';
  }
  if (behaviour.rateLimitNext > 0) {
    behaviour.rateLimitNext--;
    return 'rateLimit';
  }
  if (behaviour.failNext.count > 0) {
    behaviour.failNext = { ...behaviour.failNext, count: behaviour.failNext.count - 1 };
    return 'failNext';
  }
  if (behaviour.failureRate > 0 && random() < behaviour.failureRate) return 'random';
  return undefined;
}

export function faultResponse(
  kind: Exclude<FailureKind, 'hang'>,
  behaviour: FakeLlmBehaviour,
): FaultResponse {
  switch (kind) {
    case 'outage':
      return plain(
        503,
        'The service is temporarily unavailable (fake outage).',
        'service_unavailable',
      );
    case 'rateLimit':
      return rateLimited(behaviour);
    case 'failNext':
      return plain(behaviour.failNext.status, `Injected failure (${behaviour.failNext.status}).`);
    case 'random':
      return plain(500, 'The server had an error while processing your request. Sorry about that!');
  }
}

function plain(status: number, message: string, code: string | null = null): FaultResponse {
  const type = status >= 500 ? 'server_error' : 'invalid_request_error';
  return { status, headers: {}, body: errorBody(message, type, code) };
}

function rateLimited(behaviour: FakeLlmBehaviour): FaultResponse {
  const headers: Record<string, string> = { 'retry-after': String(behaviour.retryAfterSeconds) };
  if (behaviour.retryAfterMs !== undefined)
    headers['retry-after-ms'] = String(behaviour.retryAfterMs);
  const message = `Rate limit reached (fake). Please try again in ${behaviour.retryAfterSeconds}s.`;
  return { status: 429, headers, body: errorBody(message, 'requests', 'rate_limit_exceeded') };
}
