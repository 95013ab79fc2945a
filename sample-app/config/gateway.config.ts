import type { BackpressureOptions, PolicyOptions } from '../../lib/index.js';
import { isRetryableLlmError, isTimeoutError } from '../../lib/index.js';
import { estimateTokens, usedTokens } from '../chat/token-estimate.js';

/** The gateway's settings; every field comes from an environment variable (see `ENV_VARS`). */
export interface GatewayConfig {
  llm: {
    /** The OpenAI-compatible base URL (with `/v1`); the fake provider's when unset. */
    baseURL: string | undefined;
    apiKey: string;
    /** The model `/chat` and `/chat/stream` use when the body names none. */
    model: string;
    /** The model that answers when the primary one fails (`@Fallback`). */
    secondaryModel: string;
    /** The openai client's own timeout: a backstop above the policies' `timeout`. */
    timeoutMs: number;
  };
  timeout: {
    /** One attempt of `POST /chat` (and of the secondary model's call). */
    callMs: number;
    /** A whole `POST /chat/stream` answer. */
    streamMs: number;
    /** The wait for a stream's first token. */
    firstTokenMs: number;
    /** The longest gap between two tokens. */
    idleMs: number;
  };
  /** The gateway's own limits, kept below the provider's (`@RateLimit`). */
  rateLimit: { requestsPerMinute: number; tokensPerMinute: number; maxWaitMs: number };
  backpressure: { capacity: number; softLimit?: number; maxWaitMs: number; maxQueue?: number };
  dedupe: { ttlMs: number };
  circuitBreaker: { threshold: number; recoveryWindowMs: number };
  retry: { maxAttempts: number; baseDelayMs: number; maxDelayMs: number };
  /** Timeout of one `POST /chat/rag` pipeline run. */
  pipelineTimeoutMs: number;
  redisUrl: string | undefined;
}

type Env = Record<string, string | undefined>;

/** Every variable the gateway reads, with its default, for docs and `npm start`'s banner. */
export const ENV_VARS = {
  PORT: '3000',
  FAKE_LLM_PORT: 'a free port',
  LLM_BASE_URL: 'the fake provider',
  OPENAI_API_KEY: 'sk-fake',
  PRIMARY_MODEL: 'gpt-primary (LLM_MODEL is read when unset)',
  SECONDARY_MODEL: 'gpt-secondary',
  LLM_TIMEOUT_MS: '30000',
  LLM_CALL_TIMEOUT_MS: '10000',
  LLM_STREAM_TIMEOUT_MS: '120000',
  LLM_FIRST_TOKEN_TIMEOUT_MS: '5000',
  LLM_IDLE_TIMEOUT_MS: '5000',
  LLM_RPM: '100',
  LLM_TPM: '60000',
  LLM_RATE_LIMIT_MAX_WAIT_MS: '2000',
  LLM_CAPACITY: '4',
  LLM_SOFT_LIMIT: '3',
  LLM_MAX_WAIT_MS: '0',
  LLM_MAX_QUEUE: 'unbounded',
  LLM_DEDUPE_TTL_MS: '0',
  LLM_BREAKER_THRESHOLD: '3',
  LLM_BREAKER_RECOVERY_MS: '5000',
  LLM_RETRY_MAX_ATTEMPTS: '3',
  LLM_RETRY_BASE_DELAY_MS: '100',
  LLM_RETRY_MAX_DELAY_MS: '2000',
  PIPELINE_TIMEOUT_MS: '15000',
  REDIS_URL: 'unset: in-memory stores',
  REDIS_KEY_PREFIX: 'gateway:',
} as const;

/**
 * Reads the gateway's settings from environment variables; unset or empty ones take their
 * defaults. Throws on a malformed number, naming the variable, so a typo fails the start.
 */
export function readGatewayConfig(env: Env): GatewayConfig {
  const int = (name: string, fallback: number) => envNumber(env, name, fallback, true);
  const num = (name: string, fallback: number) => envNumber(env, name, fallback, false);
  const capacity = int('LLM_CAPACITY', 4);
  const softLimit = env.LLM_SOFT_LIMIT?.trim()
    ? int('LLM_SOFT_LIMIT', 3)
    : capacity > 1
      ? Math.min(3, capacity - 1)
      : undefined;
  return {
    llm: {
      baseURL: text(env, 'LLM_BASE_URL'),
      apiKey: text(env, 'OPENAI_API_KEY') ?? 'sk-fake',
      model: text(env, 'PRIMARY_MODEL') ?? text(env, 'LLM_MODEL') ?? 'gpt-primary',
      secondaryModel: text(env, 'SECONDARY_MODEL') ?? 'gpt-secondary',
      timeoutMs: num('LLM_TIMEOUT_MS', 30_000),
    },
    timeout: {
      callMs: num('LLM_CALL_TIMEOUT_MS', 10_000),
      streamMs: num('LLM_STREAM_TIMEOUT_MS', 120_000),
      firstTokenMs: num('LLM_FIRST_TOKEN_TIMEOUT_MS', 5_000),
      idleMs: num('LLM_IDLE_TIMEOUT_MS', 5_000),
    },
    rateLimit: {
      requestsPerMinute: int('LLM_RPM', 100),
      tokensPerMinute: int('LLM_TPM', 60_000),
      maxWaitMs: num('LLM_RATE_LIMIT_MAX_WAIT_MS', 2_000),
    },
    backpressure: {
      capacity,
      softLimit,
      maxWaitMs: num('LLM_MAX_WAIT_MS', 0),
      maxQueue: env.LLM_MAX_QUEUE?.trim() ? int('LLM_MAX_QUEUE', 0) : undefined,
    },
    dedupe: { ttlMs: num('LLM_DEDUPE_TTL_MS', 0) },
    circuitBreaker: {
      threshold: int('LLM_BREAKER_THRESHOLD', 3),
      recoveryWindowMs: num('LLM_BREAKER_RECOVERY_MS', 5_000),
    },
    retry: {
      maxAttempts: int('LLM_RETRY_MAX_ATTEMPTS', 3),
      baseDelayMs: num('LLM_RETRY_BASE_DELAY_MS', 100),
      maxDelayMs: num('LLM_RETRY_MAX_DELAY_MS', 2_000),
    },
    pipelineTimeoutMs: num('PIPELINE_TIMEOUT_MS', 15_000),
    redisUrl: text(env, 'REDIS_URL'),
  };
}

/** The policy every LLM call of the gateway uses; its sections keep their state under 'llm'. */
export const LLM_POLICY = 'llm';
/**
 * The streaming endpoint shares the cap, the limiter and the circuit, but dedupes apart from
 * `/chat` and has its own timeouts (first token, gaps between tokens).
 */
export const LLM_STREAM_POLICY = 'llm-stream';
/** The secondary model's calls: their own circuit, so that its health is judged apart. */
export const SECONDARY_POLICY = 'llm-secondary';
/** The secondary model's streams: the stream timeouts (the circuit is `SECONDARY_POLICY`'s). */
export const SECONDARY_STREAM_POLICY = 'llm-secondary-stream';
/** The pipeline's retrieval stage. */
export const RETRIEVAL_POLICY = 'retrieval';

/**
 * The named policies, in the shape `OrchestratorModule.forRoot({ policies })` takes. Validation
 * happens in the module: a bad value fails the bootstrap with an `InvalidOptionsError` that
 * names the policy and the field.
 */
export function gatewayPolicies(config: GatewayConfig): Record<string, PolicyOptions> {
  // Every method naming the policy shares its cap and circuit (kept under the policy's name).
  // Dedupe results are per method unless the section names them; named here so that the status
  // page and `orchestrator.dedupe('llm')` find them under the policy's name.
  const backpressure: BackpressureOptions = { ...config.backpressure };
  // Only the provider's trouble counts against a circuit: a 400 (our bad request) does not; a
  // timeout does.
  const circuitBreaker = { ...config.circuitBreaker, isFailure: isProviderTrouble };
  // A timed-out attempt is not retried (isRetryableLlmError would): the secondary model answers
  // instead (`@Fallback`).
  const retryOn = (error: unknown) => !isTimeoutError(error) && isRetryableLlmError(error);
  const retry = { ...config.retry, jitter: 'full' as const, retryOn };
  const { callMs, streamMs, firstTokenMs, idleMs } = config.timeout;
  const streamTimeout = { ms: streamMs, firstItemMs: Math.min(firstTokenMs, streamMs), idleMs };
  // The key leaves out the signal and the stream's transcript: they say who waits, not what for.
  const key = (prompt: string, model: string) => `${model}\n${prompt}`;
  return {
    [LLM_POLICY]: {
      backpressure,
      rateLimit: gatewayRateLimit(config),
      dedupe: { name: LLM_POLICY, ttlMs: config.dedupe.ttlMs, key },
      circuitBreaker,
      retry,
      timeout: callMs,
    },
    [LLM_STREAM_POLICY]: {
      dedupe: { name: LLM_STREAM_POLICY, ttlMs: config.dedupe.ttlMs, key },
      timeout: streamTimeout,
    },
    [SECONDARY_POLICY]: { circuitBreaker, retry, timeout: callMs },
    [SECONDARY_STREAM_POLICY]: { timeout: streamTimeout },
    [RETRIEVAL_POLICY]: { retry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 50 } },
  };
}

/**
 * The gateway's own requests and tokens per minute, set below the provider's so that it never
 * sees the provider's 429: a call reserves `estimateTokens(prompt)` and is charged the usage
 * the provider reports (`usage.total_tokens`; a stream's last item carries it).
 */
function gatewayRateLimit(config: GatewayConfig): PolicyOptions['rateLimit'] {
  const { requestsPerMinute, tokensPerMinute, maxWaitMs } = config.rateLimit;
  return {
    name: LLM_POLICY,
    requests: { limit: requestsPerMinute, intervalMs: 60_000 },
    tokens: {
      limit: tokensPerMinute,
      intervalMs: 60_000,
      estimate: (prompt: string) => estimateTokens(prompt),
      actual: usedTokens,
    },
    maxWaitMs,
    // Off in the sample: our limits keep the gateway below the provider's, and the demo's
    // provider-429 phase shows `@Retry` waiting out Retry-After per call. On (the default), a
    // provider 429 with a reset hint pauses every caller of the limiter until the reset.
    cooldownFromErrors: false,
  };
}

/** The provider failed or did not answer in time: what trips a circuit and falls back. */
export function isProviderTrouble(error: unknown): boolean {
  return isRetryableLlmError(error) || isTimeoutError(error);
}

function text(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function envNumber(env: Env, name: string, fallback: number, integer: boolean): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new TypeError(`${name} should be ${integer ? 'an integer' : 'a number'}, got "${raw}"`);
  }
  return value;
}
