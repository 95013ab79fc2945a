import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import OpenAI, { APIError } from 'openai';
import { startFakeLlm, type FakeLlm } from '../../sample-app/fake-llm/index.js';
import { CircuitOpenError } from '../circuit-breaker/circuit-open.error.js';
import { isRetryableLlmError } from './llm-retry.js';
import { retryAfterHintMs } from '../core/retry-after.js';
import { RetryPolicy } from './retry.policy.js';

/** Runs `call` and returns what it threw; fails the test when it did not throw. */
async function caught(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

describe('isRetryableLlmError with real openai SDK errors from the fake provider', () => {
  let fake: FakeLlm;
  let client: OpenAI;

  const complete = (signal?: AbortSignal) =>
    client.chat.completions.create(
      { model: 'gpt-fake', messages: [{ role: 'user', content: 'hi' }] },
      { signal },
    );

  beforeAll(async () => {
    fake = await startFakeLlm();
    client = new OpenAI({ baseURL: fake.url, apiKey: 'test', maxRetries: 0, timeout: 2_000 });
  });

  beforeEach(() => fake.reset());

  afterAll(() => fake.close());

  it('retries a 429 and reads its retry-after-ms hint', async () => {
    fake.configure({ rateLimitNext: 1, retryAfterSeconds: 7, retryAfterMs: 120 });
    const error = await caught(() => complete());
    expect((error as APIError).status).toBe(429);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(isRetryableLlmError(error, 1)).toBe(true);
    expect(retryAfterHintMs(error)).toBe(120);
  });

  it('reads a 429 that carries only retry-after in seconds', async () => {
    fake.configure({ rateLimitNext: 1, retryAfterSeconds: 2 });
    const error = await caught(() => complete());
    expect(retryAfterHintMs(error)).toBe(2_000);
    expect(
      new RetryPolicy({ maxDelayMs: 1_500, retryOn: isRetryableLlmError }).nextDelay(error, 1),
    ).toBe(1_500);
  });

  it.each([408, 409, 500, 502, 503, 529])('retries a %i', async (status) => {
    fake.configure({ failNext: { count: 1, status } });
    const error = await caught(() => complete());
    expect((error as APIError).status).toBe(status);
    expect(isRetryableLlmError(error, 1)).toBe(true);
  });

  it.each([400, 401, 403, 404, 422])('does not retry a %i', async (status) => {
    fake.configure({ failNext: { count: 1, status } });
    const error = await caught(() => complete());
    expect((error as APIError).status).toBe(status);
    expect(isRetryableLlmError(error, 1)).toBe(false);
  });

  it('retries an outage (503)', async () => {
    fake.configure({ outage: true });
    expect(isRetryableLlmError(await caught(() => complete()), 1)).toBe(true);
  });

  it('retries a connection timeout', async () => {
    const quick = new OpenAI({ baseURL: fake.url, apiKey: 'test', maxRetries: 0, timeout: 50 });
    fake.configure({ hangNext: 1 });
    const timeout = await caught(() =>
      quick.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }),
    );
    // Plain node gives APIConnectionTimeoutError; inside Jest's VM the SDK cannot recognise the
    // AbortError of another realm and reports its parent class. Both are connection errors.
    expect(timeout).toBeInstanceOf(OpenAI.APIConnectionError);
    expect(isRetryableLlmError(timeout, 1)).toBe(true);
  });

  it('does not retry a call the caller aborted', async () => {
    fake.configure({ hangNext: 1 });
    const controller = new AbortController();
    const pending = caught(() => complete(controller.signal));
    setTimeout(() => controller.abort(), 20);
    const error = await pending;
    expect(error).toBeInstanceOf(OpenAI.APIUserAbortError);
    expect(isRetryableLlmError(error, 1)).toBe(false);
  });

  it('retries a refused connection', async () => {
    const gone = await startFakeLlm();
    await gone.close();
    const offline = new OpenAI({ baseURL: gone.url, apiKey: 'test', maxRetries: 0 });
    const error = await caught(() =>
      offline.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }),
    );
    expect(error).toBeInstanceOf(OpenAI.APIConnectionError);
    expect(isRetryableLlmError(error, 1)).toBe(true);
  });

  it('retries a transient error event in a stream, not an unknown one', () => {
    // The SDK raises a status-less APIError when a stream carries `{ error: {...} }`.
    const transient = new APIError(
      undefined,
      { type: 'server_error', message: 'oops' },
      undefined,
      new Headers(),
    );
    const invalid = new APIError(
      undefined,
      { type: 'invalid_request_error', message: 'no' },
      undefined,
      new Headers(),
    );
    expect(isRetryableLlmError(transient, 1)).toBe(true);
    expect(isRetryableLlmError(invalid, 1)).toBe(false);
  });
});

describe('isRetryableLlmError with @anthropic-ai/sdk shaped errors', () => {
  // Shapes of the Anthropic SDK (same Stainless layout), declared here so that the library
  // needs no dependency on it: the classifier looks at class names and fields only.
  class AnthropicError extends Error {}
  class APIError extends AnthropicError {
    constructor(
      readonly status: number | undefined,
      readonly error: unknown,
      message: string,
      readonly headers?: Headers,
    ) {
      super(message);
    }
  }
  class RateLimitError extends APIError {}
  class APIConnectionError extends APIError {
    constructor(options: { message?: string; cause?: unknown } = {}) {
      super(undefined, undefined, options.message ?? 'Connection error.');
      if (options.cause) (this as { cause?: unknown }).cause = options.cause;
    }
  }
  class APIConnectionTimeoutError extends APIConnectionError {}
  class APIUserAbortError extends APIError {
    constructor() {
      super(undefined, undefined, 'Request was aborted.');
    }
  }

  const overloaded = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } };

  it('retries 529 overloaded, 429 and 5xx; reads retry-after', () => {
    const headers = new Headers({ 'retry-after': '3' });
    expect(isRetryableLlmError(new APIError(529, overloaded, 'Overloaded', headers), 1)).toBe(true);
    const limited = new RateLimitError(429, {}, 'rate limited', headers);
    expect(isRetryableLlmError(limited, 1)).toBe(true);
    expect(retryAfterHintMs(limited)).toBe(3_000);
    expect(isRetryableLlmError(new APIError(500, {}, 'api_error'), 1)).toBe(true);
  });

  it('retries connection errors and overloaded stream events, not 4xx or aborts', () => {
    expect(isRetryableLlmError(new APIConnectionError(), 1)).toBe(true);
    expect(isRetryableLlmError(new APIConnectionTimeoutError(), 1)).toBe(true);
    // A stream `error` event: status-less, the body nested under `error.error`.
    expect(isRetryableLlmError(new APIError(undefined, overloaded, 'Overloaded'), 1)).toBe(true);
    expect(isRetryableLlmError(new APIError(400, {}, 'invalid_request_error'), 1)).toBe(false);
    expect(isRetryableLlmError(new APIError(413, {}, 'request_too_large'), 1)).toBe(false);
    expect(isRetryableLlmError(new APIUserAbortError(), 1)).toBe(false);
  });
});

describe('isRetryableLlmError with other shapes', () => {
  it("never retries the library's own rejections", () => {
    expect(isRetryableLlmError(new CircuitOpenError('llm', 1_000), 1)).toBe(false);
  });

  it('lets x-should-retry decide first, as the SDKs do', () => {
    const error = (status: number, value: string) =>
      Object.assign(new Error('x'), { status, headers: { 'X-Should-Retry': value } });
    expect(isRetryableLlmError(error(400, 'true'), 1)).toBe(true);
    expect(isRetryableLlmError(error(503, 'false'), 1)).toBe(false);
  });

  it('reads statusCode, response.status and getStatus()', () => {
    expect(isRetryableLlmError({ statusCode: 502 }, 1)).toBe(true);
    expect(isRetryableLlmError({ response: { status: 404 } }, 1)).toBe(false);
    expect(isRetryableLlmError({ getStatus: () => 429 }, 1)).toBe(true);
    expect(isRetryableLlmError({ getStatus: () => 401 }, 1)).toBe(false);
  });

  it('retries socket errors found in the cause chain', () => {
    const socket = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    expect(isRetryableLlmError(new TypeError('fetch failed', { cause: socket }), 1)).toBe(true);
    expect(isRetryableLlmError(Object.assign(new Error('dns'), { code: 'ENOTFOUND' }), 1)).toBe(
      false,
    );
  });

  it('does not retry programming errors, DOM aborts or non-objects', () => {
    expect(isRetryableLlmError(new TypeError('x is not a function'), 1)).toBe(false);
    expect(isRetryableLlmError(new DOMException('aborted', 'AbortError'), 1)).toBe(false);
    expect(isRetryableLlmError('boom', 1)).toBe(false);
    expect(isRetryableLlmError(undefined, 1)).toBe(false);
  });
});
