import type { BackpressureOptions, PolicyOptions } from '../../lib/index.js';
import { isRetryableLlmError } from '../../lib/index.js';

/** The gateway's settings; every field comes from an environment variable (see `ENV_VARS`). */
export interface GatewayConfig {
  llm: {
    /** The OpenAI-compatible base URL (with `/v1`); the fake provider's when unset. */
    baseURL: string | undefined;
    apiKey: string;
    model: string;
    /** Per-attempt timeout of the openai client. */
    timeoutMs: number;
  };
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
  LLM_MODEL: 'gpt-fake',
  LLM_TIMEOUT_MS: '30000',
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
      model: text(env, 'LLM_MODEL') ?? 'gpt-fake',
      timeoutMs: num('LLM_TIMEOUT_MS', 30_000),
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
/** The streaming endpoint shares the cap and the circuit, but dedupes apart from `/chat`. */
export const LLM_STREAM_POLICY = 'llm-stream';
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
  return {
    [LLM_POLICY]: {
      backpressure,
      dedupe: { name: LLM_POLICY, ttlMs: config.dedupe.ttlMs },
      // Only the provider's trouble counts against it: a 400 (our bad request) does not.
      circuitBreaker: { ...config.circuitBreaker, isFailure: isRetryableLlmError },
      retry: { ...config.retry, jitter: 'full', retryOn: isRetryableLlmError },
    },
    [LLM_STREAM_POLICY]: { dedupe: { name: LLM_STREAM_POLICY, ttlMs: config.dedupe.ttlMs } },
    [RETRIEVAL_POLICY]: { retry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 50 } },
  };
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
