import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { isInvalidOptionsError, Orchestrator } from '../../lib/index.js';
import { fakeAnswer, tokenize } from '../../sample-app/fake-llm/index.js';
import { createGateway, type Gateway, type GatewayStatus } from '../../sample-app/index.js';

/**
 * The sample gateway end to end, over real HTTP on 127.0.0.1: the openai SDK inside the gateway
 * calls the fake provider, whose behaviour each test sets and whose counters are the truth
 * about provider calls.
 */

const CAPACITY = 3;
const RECOVERY_MS = 1_000;
const PRIMARY = 'gpt-primary';
const SECONDARY = 'gpt-secondary';

/** Short windows, so that the outage and retry scenarios run in well under a second each. */
const ENV = {
  LLM_CAPACITY: String(CAPACITY),
  LLM_SOFT_LIMIT: '2',
  LLM_BREAKER_THRESHOLD: '2',
  LLM_BREAKER_RECOVERY_MS: String(RECOVERY_MS),
  LLM_RETRY_MAX_ATTEMPTS: '3',
  LLM_RETRY_BASE_DELAY_MS: '5',
  LLM_RETRY_MAX_DELAY_MS: '2000',
  LLM_DEDUPE_TTL_MS: '0',
  LLM_TIMEOUT_MS: '5000',
  LLM_CALL_TIMEOUT_MS: '400',
  LLM_FIRST_TOKEN_TIMEOUT_MS: '300',
  LLM_IDLE_TIMEOUT_MS: '300',
};

let gateway: Gateway;

function post(path: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(`${gateway.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
}

async function status(): Promise<GatewayStatus> {
  const response = await fetch(`${gateway.url}/orchestrator/status`);
  expect(response.status).toBe(200);
  return (await response.json()) as GatewayStatus;
}

function fake() {
  const started = gateway.fake;
  if (!started) throw new Error('the gateway started no fake provider');
  return started;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Reads server-sent events from a response until `stop` says so or the stream ends. */
async function readEvents(
  response: Response,
  stop: (events: Array<{ event: string; data: any }>) => boolean = () => false,
): Promise<Array<{ event: string; data: any }>> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const events: Array<{ event: string; data: any }> = [];
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return events;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
      const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? 'null');
      events.push({ event, data });
      if (stop(events)) {
        await reader.cancel();
        return events;
      }
    }
  }
}

beforeAll(async () => {
  gateway = await createGateway({ env: ENV, logger: false });
});

afterAll(() => gateway?.close());

beforeEach(async () => {
  fake().reset();
  // A test that opened a circuit must not leave it open for the next one.
  const orchestrator = gateway.app.get(Orchestrator);
  for (const name of orchestrator.circuits()) await orchestrator.circuit(name).close();
  // Nor spend the gateway's requests per minute for the next one (the fake's refill on reset).
  for (const name of orchestrator.rateLimits()) await orchestrator.rateLimit(name).reset();
});

describe('the sample gateway over HTTP', () => {
  it('answers POST /chat through the openai SDK and the fake provider', async () => {
    const response = await post('/chat', { prompt: 'hello there' });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      answer: fakeAnswer('hello there'),
      model: PRIMARY,
      id: expect.stringMatching(/^chatcmpl-fake-/),
      usage: { total_tokens: 2 + 3 },
    });
    expect(fake().stats().served).toBe(1);
  });

  it.each([
    ['a missing prompt', {}],
    ['an empty prompt', { prompt: '  ' }],
    ['a non-string model', { prompt: 'hi', model: 42 }],
    ['an unknown field', { prompt: 'hi', temperature: 2 }],
    ['malformed JSON', '{"prompt":'],
  ])('answers 400 for %s, without calling the provider', async (_case, body) => {
    for (const path of ['/chat', '/chat/stream', '/chat/rag']) {
      const response = await post(path, body);
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ statusCode: 400 });
    }
    expect(fake().stats().received).toBe(0);
  });

  it('makes one provider call for a burst of duplicate prompts', async () => {
    fake().configure({ latencyMs: 150 });
    const before = (await status()).counters;
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => post('/chat', { prompt: 'the same question' })),
    );
    const bodies = await Promise.all(responses.map((r) => r.json() as Promise<{ id: string }>));
    expect(responses.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(new Set(bodies.map((b) => b.id)).size).toBe(1);
    expect(fake().stats().received).toBe(1);
    const after = (await status()).counters;
    expect(after.dedupeHits - before.dedupeHits).toBe(9);
    expect(after.sheds - before.sheds).toBe(0); // duplicates take no backpressure slot
  });

  it("waits out the provider's 429 Retry-After and retries", async () => {
    // retry-after-ms (120 ms) wins over retry-after (5 s, capped at maxDelayMs = 2 s).
    fake().configure({ rateLimitNext: 1, retryAfterSeconds: 5, retryAfterMs: 120 });
    const before = (await status()).counters.retries;
    const started = performance.now();
    const response = await post('/chat', { prompt: 'rate limited once' });
    const elapsed = performance.now() - started;
    expect(response.status).toBe(200);
    expect(fake().stats()).toMatchObject({ received: 2, served: 1 });
    expect(fake().stats().failures.rateLimit).toBe(1);
    expect(elapsed).toBeGreaterThanOrEqual(115);
    expect(elapsed).toBeLessThan(1_500);
    expect((await status()).counters.retries - before).toBe(1);
  });

  it('does not retry a 400 from the provider, and answers it with 502', async () => {
    fake().configure({ failNext: { count: 1, status: 400 } });
    const response = await post('/chat', { prompt: 'a bad request upstream' });
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ error: 'ProviderError', providerStatus: 400 });
    expect(fake().stats().received).toBe(1);
    // Our bad request says nothing about the provider's health: the breaker does not count it.
    expect((await status()).circuits).toContainEqual({ name: 'llm', state: 'closed', failures: 0 });
  });

  it('opens both circuits on an outage of both models (503 with Retry-After), closes after recovery', async () => {
    fake().configure({ outage: true });
    // Threshold 2: two calls fail after their retries (3 attempts on each model), then both
    // circuits open.
    for (const prompt of ['outage 1', 'outage 2']) {
      const failed = await post('/chat', { prompt });
      expect(failed.status).toBe(502);
    }
    expect(fake().stats().received).toBe(12);
    expect((await status()).circuits).toContainEqual({ name: 'llm', state: 'open', failures: 2 });
    expect((await status()).circuits).toContainEqual({
      name: 'llm-secondary',
      state: 'open',
      failures: 2,
    });

    const rejected = await post('/chat', { prompt: 'outage 3' });
    expect(rejected.status).toBe(503);
    expect(Number(rejected.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await rejected.json()).toMatchObject({ statusCode: 503, error: 'CircuitOpenError' });
    const streamRejected = await post('/chat/stream', { prompt: 'outage 4' });
    expect(streamRejected.status).toBe(503);
    expect(fake().stats().received).toBe(12); // fail fast: the provider is not called

    fake().configure({ outage: false });
    await new Promise((resolve) => setTimeout(resolve, RECOVERY_MS + 50));
    const recovered = await post('/chat', { prompt: 'after recovery' });
    expect(recovered.status).toBe(200);
    const after = await status();
    expect(after.circuits).toContainEqual({ name: 'llm', state: 'closed', failures: 0 });
    const primary = after.transitions.filter((t) => t.circuit === 'llm');
    const moves = primary.slice(-3).map((t) => `${t.from}->${t.to}`);
    expect(moves).toEqual(['closed->open', 'open->half-open', 'half-open->closed']);
    expect(after.counters.circuitRejections).toBeGreaterThanOrEqual(2);
  });

  it('sheds an overload burst with 429 while the cap holds', async () => {
    fake().configure({ latencyMs: 300 });
    const before = (await status()).counters.sheds;
    const responses = await Promise.all(
      Array.from({ length: 3 * CAPACITY }, (_, i) => post('/chat', { prompt: `distinct ${i}` })),
    );
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([...Array(CAPACITY).fill(200), ...Array(2 * CAPACITY).fill(429)]);
    const shed = responses.find((r) => r.status === 429)!;
    expect(Number(shed.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await shed.json()).toMatchObject({ error: 'BackpressureShedError' });
    expect(fake().stats()).toMatchObject({ received: CAPACITY, peakInFlight: CAPACITY });
    expect((await status()).counters.sheds - before).toBe(2 * CAPACITY);
    expect((await status()).backpressure).toContainEqual(
      expect.objectContaining({ name: 'llm', depth: 0, capacity: CAPACITY }),
    );
  });

  it('streams every token in order as server-sent events', async () => {
    fake().configure({ tokenDelayMs: 2 });
    const prompt = 'one two three four five six seven eight nine ten eleven twelve';
    const response = await post('/chat/stream', { prompt });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = await readEvents(response);
    const tokens = events.filter((e) => e.event === 'message').map((e) => e.data);
    expect(tokens.map((t) => t.index)).toEqual(tokens.map((_, i) => i));
    expect(tokens.map((t) => t.token)).toEqual(tokenize(fakeAnswer(prompt)));
    const promptTokens = prompt.split(' ').length;
    expect(events.at(-1)).toEqual({
      event: 'done',
      data: {
        tokens: tokens.length,
        usage: {
          prompt_tokens: promptTokens,
          completion_tokens: tokens.length,
          total_tokens: promptTokens + tokens.length,
        },
      },
    });
  });

  it('shares one provider stream between identical concurrent streams', async () => {
    fake().configure({ tokenDelayMs: 5 });
    const prompt = 'a shared stream of a dozen tokens or so for two listeners';
    const [first, second] = await Promise.all([
      post('/chat/stream', { prompt }),
      post('/chat/stream', { prompt }),
    ]);
    const [a, b] = await Promise.all([readEvents(first), readEvents(second)]);
    const tokens = (events: typeof a) =>
      events.filter((e) => e.event === 'message').map((e) => e.data.token);
    expect(tokens(a)).toEqual(tokenize(fakeAnswer(prompt)));
    expect(tokens(b)).toEqual(tokens(a));
    expect(fake().stats().streams).toMatchObject({ started: 1, completed: 1 });
  });

  it('releases the stream slot and cancels the provider call when the client disconnects', async () => {
    fake().configure({ tokenDelayMs: 40 });
    const prompt = Array.from({ length: 100 }, (_, i) => `word${i}`).join(' ');
    const client = new AbortController();
    const response = await post('/chat/stream', { prompt }, { signal: client.signal });
    const events = await readEvents(response, (seen) => seen.length >= 2);
    expect(events.map((e) => e.data.index)).toEqual([0, 1]);
    const depth = async () => (await status()).backpressure.find((g) => g.name === 'llm')!.depth;
    expect(await depth()).toBe(1);
    client.abort();
    await waitFor(async () => (await depth()) === 0);
    await waitFor(() => fake().stats().inFlight === 0);
    expect(fake().stats().streams).toMatchObject({ started: 1, completed: 0, aborted: 1 });
  });

  it('answers POST /chat/rag through a four-stage pipeline', async () => {
    const response = await post('/chat/rag', { prompt: 'how does the circuit breaker fail fast?' });
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      answer: string;
      sources: string[];
      stageTimings: Array<{ name: string; durationMs: number }>;
    };
    expect(body.sources[0]).toBe('circuit-breaker');
    expect(body.answer).toMatch(/^Echo: Answer from these notes: - A circuit breaker opens/);
    expect(body.stageTimings.map((t) => t.name)).toEqual([
      'retrieve',
      'assemble',
      'infer',
      'post-process',
    ]);
    expect(fake().stats().served).toBe(1);
    expect((await status()).counters.pipelineRuns.success).toBeGreaterThanOrEqual(1);
  });

  it('reports circuits, backpressure, dedupe entries, stores and counters', async () => {
    const body = await status();
    expect(body.stores).toEqual({
      circuitBreaker: 'InMemoryCircuitBreakerStore',
      dedupe: 'InMemoryDedupeStore',
      backpressure: 'InMemoryBackpressureStore',
    });
    expect(body.circuits.map((c) => c.name)).toContain('llm');
    expect(body.backpressure).toEqual([
      { name: 'llm', depth: 0, capacity: CAPACITY, softDepthRatio: 0 },
    ]);
    expect(body.dedupe.map((d) => d.name)).toEqual(['llm', 'llm-stream']);
    expect(body.provider.baseURL).toBe(fake().url);
    expect(Object.keys(body.counters).sort()).toEqual(
      [
        'circuitOpens',
        'circuitRejections',
        'dedupeExecutions',
        'dedupeHits',
        'pipelineRuns',
        'rateLimitCooldowns',
        'rateLimitRefusals',
        'rateLimitWaits',
        'retries',
        'retriesExhausted',
        'sheds',
        'tokensCharged',
      ].sort(),
    );
    expect(body.models).toEqual({ primary: PRIMARY, secondary: SECONDARY });
    expect(body.rateLimits).toEqual([
      {
        name: 'llm',
        available: { requests: expect.any(Number), tokens: expect.any(Number) },
        limits: { requestsPerMinute: 100, tokensPerMinute: 60_000, maxWaitMs: 2_000 },
      },
    ]);
    expect(Object.keys(body.fallbacks).sort()).toEqual(
      ['circuit-open', 'provider-error', 'stream-interrupted', 'timeout'].sort(),
    );
    expect(Object.keys(body.timeouts).sort()).toEqual(['call', 'first-item', 'idle']);
  });
});

describe('timeouts and fallback to the secondary model', () => {
  it('answers a hung primary with the secondary model after the call timeout', async () => {
    fake().configure({ hang: true, faultyModels: [PRIMARY] });
    const before = await status();
    const response = await post('/chat', { prompt: 'are you there?' });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      answer: fakeAnswer('are you there?'),
      model: SECONDARY,
      fallbackReason: 'timeout',
    });
    const after = await status();
    expect(after.timeouts.call - before.timeouts.call).toBe(1);
    expect(after.fallbacks.timeout - before.fallbacks.timeout).toBe(1);
    // The timed-out request was aborted: the provider saw its client leave.
    await waitFor(() => fake().stats().clientAborts === 1 && fake().stats().inFlight === 0);
    expect(fake().stats()).toMatchObject({ received: 2, served: 1 });
  });

  it('aborts the provider request when the HTTP client of a hung /chat disconnects', async () => {
    fake().configure({ hang: true });
    const before = await status();
    const client = new AbortController();
    const pending = post('/chat', { prompt: 'I will not wait' }, { signal: client.signal });
    await waitFor(() => fake().stats().inFlight === 1);
    client.abort();
    await expect(pending).rejects.toThrow();
    await waitFor(() => fake().stats().clientAborts === 1);
    expect(fake().stats()).toMatchObject({ received: 1, inFlight: 0 });
    const after = await status();
    // Cancelled by the client, not by the timeout, and nobody left to answer: no fallback.
    expect(after.timeouts.call).toBe(before.timeouts.call);
    expect(after.fallbacks).toEqual(before.fallbacks);
    expect(after.backpressure[0].depth).toBe(0);
  });

  it('answers from the secondary model (200, not 503) while the primary is down', async () => {
    fake().configure({ outage: true, faultyModels: [PRIMARY] });
    for (const prompt of ['primary down 1', 'primary down 2', 'primary down 3']) {
      const response = await post('/chat', { prompt });
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ answer: fakeAnswer(prompt), model: SECONDARY });
    }
    const after = await status();
    expect(after.circuits).toContainEqual({ name: 'llm', state: 'open', failures: 2 });
    expect(after.circuits).toContainEqual({ name: 'llm-secondary', state: 'closed', failures: 0 });
    // Two calls spent 3 attempts on the primary; the third found its circuit open.
    expect(fake().stats()).toMatchObject({ received: 3 + 1 + 3 + 1 + 1, served: 3 });
    expect(fake().stats().failures.outage).toBe(6);
  });

  it('continues a stream that stalls after 3 tokens on the secondary model: one whole stream', async () => {
    fake().configure({ stallAfterTokens: 3, faultyModels: [PRIMARY] });
    const before = await status();
    const prompt = 'tell me about the seven wonders of the ancient world';
    const response = await post('/chat/stream', { prompt });
    expect(response.status).toBe(200);
    const events = await readEvents(response);
    const tokens = events.filter((e) => e.event === 'message').map((e) => e.data);
    expect(tokens.map((t) => t.token)).toEqual(tokenize(fakeAnswer(prompt)));
    expect(tokens.map((t) => t.index)).toEqual(tokens.map((_, i) => i));
    expect(events.at(-1)).toMatchObject({ event: 'done', data: { tokens: tokens.length } });
    const after = await status();
    expect(after.timeouts.idle - before.timeouts.idle).toBe(1);
    expect(after.fallbacks['stream-interrupted'] - before.fallbacks['stream-interrupted']).toBe(1);
    expect(fake().stats().streams).toMatchObject({ started: 2, completed: 1, stalled: 1 });
  });

  it('falls back when the first token is too slow (first-item timeout)', async () => {
    fake().configure({ firstTokenDelayMs: 5_000, faultyModels: [PRIMARY] });
    const before = await status();
    const prompt = 'a slow start';
    const events = await readEvents(await post('/chat/stream', { prompt }));
    const tokens = events.filter((e) => e.event === 'message').map((e) => e.data.token);
    expect(tokens).toEqual(tokenize(fakeAnswer(prompt)));
    const after = await status();
    expect(after.timeouts['first-item'] - before.timeouts['first-item']).toBe(1);
    expect(after.fallbacks.timeout - before.fallbacks.timeout).toBe(1);
    await waitFor(() => fake().stats().inFlight === 0);
    expect(fake().stats().streams).toMatchObject({ started: 2, completed: 1, aborted: 1 });
  });
});

describe("the gateway's own rate limits, below the provider's", () => {
  let limited: Gateway;

  beforeAll(async () => {
    limited = await createGateway({
      env: { ...ENV, LLM_RPM: '3', LLM_TPM: '100', LLM_RATE_LIMIT_MAX_WAIT_MS: '0' },
      fake: { requestsPerMinute: 4, tokensPerMinute: 120 },
    });
  });

  afterAll(() => limited?.close());

  async function limitedStatus(): Promise<GatewayStatus> {
    return (await (await fetch(`${limited.url}/orchestrator/status`)).json()) as GatewayStatus;
  }

  function limitedPost(prompt: string): Promise<Response> {
    return fetch(`${limited.url}/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt }),
    });
  }

  it('refuses with 429 (RateLimitedError) before the provider would, charging the usage', async () => {
    // 20 words: the estimate reserves 2 × 20 + 16 = 56 tokens; the answer uses 20 + 21 = 41.
    const prompt = Array.from({ length: 20 }, (_, i) => `w${i}`).join(' ');
    const statuses: number[] = [];
    const charged: number[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await limitedPost(`${prompt} ${'x'.repeat(i)}`.trim());
      statuses.push(response.status);
      const body = (await response.json()) as { usage?: { total_tokens: number } };
      if (response.status === 200) charged.push(body.usage!.total_tokens);
      else expect(body).toMatchObject({ error: 'RateLimitedError' });
    }
    // 100 tokens: two calls fit (41 + 41 charged), the third's 56-token estimate does not.
    expect(statuses).toEqual([200, 200, 429]);
    const after = await limitedStatus();
    expect(after.counters.tokensCharged).toBe(charged.reduce((a, b) => a + b, 0));
    expect(after.counters.rateLimitRefusals).toBe(1);
    expect(after.rateLimits[0].available.requests).toBe(1);
    // The provider never had to refuse: our limiter stopped the call first.
    expect(limited.fake!.stats()).toMatchObject({ received: 2, rateLimited: 0 });
  });
});

describe('a provider stream that breaks after its first tokens', () => {
  let provider: Server;
  let broken: Gateway;
  const requests: Array<{ model: string; messages: unknown[] }> = [];

  beforeAll(async () => {
    // Streams two chunks, then drops the connection: no fault of the fake provider does that.
    provider = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => requests.push(JSON.parse(body)));
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const content of ['Echo:', ' half']) {
        const chunk = { id: 'c1', object: 'chat.completion.chunk', created: 0, model: 'm' };
        const choices = [{ index: 0, delta: { content }, finish_reason: null }];
        res.write(`data: ${JSON.stringify({ ...chunk, choices })}\n\n`);
      }
      setTimeout(() => res.destroy(), 20);
    });
    await new Promise<void>((done) => provider.listen(0, '127.0.0.1', done));
    const { port } = provider.address() as AddressInfo;
    broken = await createGateway({
      fake: false,
      env: { LLM_BASE_URL: `http://127.0.0.1:${port}/v1`, LLM_RETRY_MAX_ATTEMPTS: '3' },
    });
  });

  afterAll(async () => {
    await broken?.close();
    await new Promise((done) => provider.close(done));
  });

  it('continues on the secondary model from the tokens sent; when that breaks too, event: error', async () => {
    const response = await fetch(`${broken.url}/chat/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'anything' }),
    });
    expect(response.status).toBe(200);
    const events = await readEvents(response);
    expect(events.slice(0, 4).map((e) => e.data.token)).toEqual([
      'Echo:',
      ' half',
      'Echo:',
      ' half',
    ]);
    expect(events.at(-1)).toMatchObject({ event: 'error', data: { tokens: 4 } });
    // The secondary model was asked to continue what the client already had.
    expect(requests.map((r) => r.model)).toEqual([PRIMARY, SECONDARY]);
    expect(requests[1].messages).toEqual([
      { role: 'user', content: 'anything' },
      { role: 'assistant', content: 'Echo: half' },
    ]);
    const body = (await (await fetch(`${broken.url}/orchestrator/status`)).json()) as GatewayStatus;
    // Not retried (each failed after its first token), and one failure for each breaker.
    expect(body.counters.retries).toBe(0);
    expect(body.circuits).toContainEqual({ name: 'llm', state: 'closed', failures: 1 });
    expect(body.circuits).toContainEqual({ name: 'llm-secondary', state: 'closed', failures: 1 });
    expect(body.fallbacks['stream-interrupted']).toBe(1);
    expect(body.backpressure[0].depth).toBe(0);
  });
});

describe('the gateway configuration', () => {
  it('fails the bootstrap on a bad policy value from the environment, and stops its fake', async () => {
    const port = await freePort();
    let error: unknown;
    try {
      await createGateway({ env: { LLM_CAPACITY: '0' }, fake: { port } });
    } catch (caught) {
      error = caught;
    }
    expect(isInvalidOptionsError(error)).toBe(true);
    expect((error as Error).message).toContain('policy "llm": backpressure.capacity');
    await expect(fetch(`http://127.0.0.1:${port}/admin/stats`)).rejects.toThrow();
  });

  it('rejects a malformed number, naming the variable', async () => {
    await expect(createGateway({ env: { LLM_BREAKER_THRESHOLD: 'three' } })).rejects.toThrow(
      'LLM_BREAKER_THRESHOLD should be an integer, got "three"',
    );
  });
});
