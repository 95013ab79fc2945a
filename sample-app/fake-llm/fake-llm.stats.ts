export type FailureKind = 'outage' | 'hang' | 'rateLimit' | 'failNext' | 'random';

export interface FakeLlmStats {
  /** Requests to `/v1/*` (admin calls are not counted). */
  received: number;
  /** 200 answers fully written (streams count once `[DONE]` is sent). */
  served: number;
  /** 400s for malformed bodies. */
  badRequests: number;
  /** 429s the provider's own limits answered (`requestsPerMinute` / `tokensPerMinute`). */
  rateLimited: number;
  /** Injected failures by kind; hung requests count under `hang`. */
  failures: Record<FailureKind, number>;
  /** `stalled`: streams that stopped sending (`stallAfterTokens`); they also count as aborted. */
  streams: { started: number; completed: number; aborted: number; stalled: number };
  /** Requests whose client left before the answer was complete (hung ones included). */
  clientAborts: number;
  /** LLM requests currently open, including hung ones. */
  inFlight: number;
  /** Highest `inFlight` seen since start or the last reset. */
  peakInFlight: number;
}

export function emptyStats(inFlight = 0): FakeLlmStats {
  return {
    received: 0,
    served: 0,
    badRequests: 0,
    rateLimited: 0,
    failures: { outage: 0, hang: 0, rateLimit: 0, failNext: 0, random: 0 },
    streams: { started: 0, completed: 0, aborted: 0, stalled: 0 },
    clientAborts: 0,
    inFlight,
    peakInFlight: inFlight,
  };
}

export function cloneStats(stats: FakeLlmStats): FakeLlmStats {
  return { ...stats, failures: { ...stats.failures }, streams: { ...stats.streams } };
}
