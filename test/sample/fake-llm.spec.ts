import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import OpenAI, { InternalServerError, RateLimitError } from 'openai';
import {
  fakeAnswer,
  fakeLlmOptionsFromEnv,
  startFakeLlm,
  tokenize,
  type FakeLlm,
  type FakeLlmStats,
} from '../../sample-app/fake-llm/index.js';
import { formatDuration } from '../../sample-app/fake-llm/rate-limits.js';
import { parseResetDuration } from '../../lib/index.js';

const MODEL = 'gpt-fake';
const PROMPT = 'tell me a short story';

function chat(fake: FakeLlm, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(`${fake.url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
}

function chatBody(prompt = PROMPT, stream = false) {
  return { model: MODEL, messages: [{ role: 'user', content: prompt }], stream };
}

function admin(fake: FakeLlm, path: string, body?: unknown): Promise<Response> {
  const base = fake.url.replace(/\/v1$/, '');
  if (body === undefined && path === 'stats') return fetch(`${base}/admin/stats`);
  return fetch(`${base}/admin/${path}`, { method: 'POST', body: JSON.stringify(body ?? {}) });
}

function parseSse(text: string): string[] {
  return text
    .split('\n\n')
    .filter((event) => event.startsWith('data: '))
    .map((event) => event.slice('data: '.length));
}

async function waitFor(check: () => boolean, timeoutMs = 1000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('fake LLM server', () => {
  let fake: FakeLlm;

  beforeAll(async () => {
    fake = await startFakeLlm();
  });

  afterAll(async () => {
    await fake.close();
  });

  beforeEach(() => {
    fake.reset();
  });

  it('listens on 127.0.0.1 and exposes a /v1 base URL', () => {
    expect(fake.url).toBe(`http://127.0.0.1:${fake.port}/v1`);
    expect(fake.port).toBeGreaterThan(0);
  });

  it('answers a chat completion with an OpenAI-shaped body', async () => {
    const res = await chat(fake, chatBody());
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, any>;
    expect(body).toMatchObject({
      object: 'chat.completion',
      model: MODEL,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: `Echo: ${PROMPT}` },
          finish_reason: 'stop',
        },
      ],
    });
    expect(body.id).toMatch(/^chatcmpl-/);
    expect(typeof body.created).toBe('number');
    const { prompt_tokens, completion_tokens, total_tokens } = body.usage;
    expect(completion_tokens).toBe(tokenize(fakeAnswer(PROMPT)).length);
    expect(total_tokens).toBe(prompt_tokens + completion_tokens);
  });

  it('answers from the last user message', async () => {
    const messages = [
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'first question' },
      { role: 'assistant', content: 'first answer' },
      { role: 'user', content: [{ type: 'text', text: 'second question' }] },
    ];
    const body = (await (await chat(fake, { model: MODEL, messages })).json()) as any;
    expect(body.choices[0].message.content).toBe('Echo: second question');
  });

  it('streams every token in order, then a stop chunk and [DONE]', async () => {
    const res = await chat(fake, chatBody(PROMPT, true));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = parseSse(await res.text());
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((data) => JSON.parse(data));
    const tokens = tokenize(fakeAnswer(PROMPT));
    expect(tokens.length).toBeGreaterThanOrEqual(4);
    expect(chunks).toHaveLength(tokens.length + 1);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks[0].choices[0].delta.role).toBe('assistant');
    expect(chunks.slice(0, -1).map((c) => c.choices[0].delta.content)).toEqual(tokens);
    expect(chunks.at(-1).choices[0]).toMatchObject({ delta: {}, finish_reason: 'stop' });
    expect(fake.stats().streams).toEqual({ started: 1, completed: 1, aborted: 0, stalled: 0 });
  });

  it('adds a usage chunk when stream_options.include_usage is set', async () => {
    const body = { ...chatBody(PROMPT, true), stream_options: { include_usage: true } };
    const events = parseSse(await (await chat(fake, body)).text());
    const usageChunk = JSON.parse(events.at(-2)!);
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage.completion_tokens).toBe(tokenize(fakeAnswer(PROMPT)).length);
  });

  it('rate limits the next N requests with Retry-After, then recovers', async () => {
    fake.configure({ rateLimitNext: 2, retryAfterSeconds: 3, retryAfterMs: 250 });
    for (let i = 0; i < 2; i++) {
      const res = await chat(fake, chatBody());
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe('3');
      expect(res.headers.get('retry-after-ms')).toBe('250');
      expect(await res.json()).toMatchObject({
        error: { type: 'requests', code: 'rate_limit_exceeded', message: expect.any(String) },
      });
    }
    expect((await chat(fake, chatBody())).status).toBe(200);
    expect(fake.stats().failures.rateLimit).toBe(2);
  });

  it('sends Retry-After: 1 by default and no retry-after-ms unless configured', async () => {
    fake.configure({ rateLimitNext: 1 });
    const res = await chat(fake, chatBody());
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(res.headers.has('retry-after-ms')).toBe(false);
  });

  it('fails a burst of requests with the configured status, then recovers', async () => {
    fake.configure({ failNext: { count: 3, status: 503 } });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await chat(fake, chatBody())).status);
    expect(statuses).toEqual([503, 503, 503, 200]);
    expect(fake.stats().failures.failNext).toBe(3);
    expect(fake.config().failNext).toEqual({ count: 0, status: 503 });
  });

  it('turns an outage on and off through the admin endpoint', async () => {
    const on = await admin(fake, 'config', { outage: true });
    expect(on.status).toBe(200);
    expect(await on.json()).toMatchObject({ outage: true });

    const down = await chat(fake, chatBody());
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ error: { type: 'server_error' } });
    expect((await chat(fake, chatBody())).status).toBe(503);

    await admin(fake, 'config', { outage: false });
    expect((await chat(fake, chatBody())).status).toBe(200);

    const stats = (await (await admin(fake, 'stats')).json()) as FakeLlmStats;
    expect(stats).toMatchObject({ received: 3, served: 1, failures: { outage: 2 } });
  });

  it('rejects an invalid admin config with 400 and leaves the behaviour unchanged', async () => {
    expect((await admin(fake, 'config', { failureRate: 2 })).status).toBe(400);
    expect((await admin(fake, 'config', { outage: 'yes' })).status).toBe(400);
    expect((await admin(fake, 'config', { bogus: 1 })).status).toBe(400);
    expect(fake.config()).toMatchObject({ failureRate: 0, outage: false });
  });

  it('resets stats and behaviour through the admin endpoint', async () => {
    fake.configure({ outage: true });
    await chat(fake, chatBody());
    expect((await admin(fake, 'reset')).status).toBe(200);
    expect(fake.stats()).toMatchObject({ received: 0, served: 0, failures: { outage: 0 } });
    expect(fake.config().outage).toBe(false);
  });

  it('counts received versus served requests', async () => {
    fake.configure({ failNext: { count: 2, status: 500 }, rateLimitNext: 1 });
    for (let i = 0; i < 5; i++) await (await chat(fake, chatBody())).arrayBuffer();
    await (await chat(fake, chatBody(PROMPT, true))).text();
    expect(fake.stats()).toMatchObject({
      received: 6,
      served: 3,
      failures: { rateLimit: 1, failNext: 2, outage: 0, hang: 0, random: 0 },
      inFlight: 0,
    });
  });

  it('fails requests at the configured rate using the injected random source', async () => {
    const rolls = [0.1, 0.9, 0.29, 0.31];
    const seeded = await startFakeLlm({ failureRate: 0.3, random: () => rolls.shift() ?? 1 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await chat(seeded, chatBody())).status);
      expect(statuses).toEqual([500, 200, 500, 200]);
      expect(seeded.stats().failures.random).toBe(2);
    } finally {
      await seeded.close();
    }
  });

  it('waits latencyMs before answering', async () => {
    fake.configure({ latencyMs: 60 });
    const started = performance.now();
    expect((await chat(fake, chatBody())).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
  });

  it('counts a client abort mid-stream as aborted and stops streaming', async () => {
    fake.configure({ tokenDelayMs: 30 });
    const controller = new AbortController();
    const res = await chat(fake, chatBody(PROMPT, true), { signal: controller.signal });
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toContain('"role":"assistant"');
    controller.abort();
    await waitFor(() => fake.stats().streams.aborted === 1);
    expect(fake.stats()).toMatchObject({
      served: 0,
      inFlight: 0,
      streams: { started: 1, completed: 0, aborted: 1 },
    });
  });

  it('rejects a malformed JSON body with an OpenAI-style 400', async () => {
    const res = await chat(fake, '{"model": "gpt-fake", "messages": [');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      error: { type: 'invalid_request_error', message: expect.stringContaining('JSON') },
    });
    expect(fake.stats()).toMatchObject({ received: 1, served: 0, badRequests: 1 });
  });

  it('rejects a body without messages with 400', async () => {
    const res = await chat(fake, { model: MODEL });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { type: 'invalid_request_error' } });
  });

  it('answers unknown routes with an OpenAI-style 404', async () => {
    const res = await fetch(`${fake.url}/embeddings`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: 'unknown_url' } });
  });
});

describe('fake LLM hanging', () => {
  async function expectPromptClose(fake: FakeLlm): Promise<void> {
    const started = performance.now();
    await fake.close();
    expect(performance.now() - started).toBeLessThan(500);
  }

  it('hangs the next request until close(), which returns promptly', async () => {
    const fake = await startFakeLlm({ hangNext: 1 });
    try {
      const pending = chat(fake, chatBody());
      pending.catch(() => undefined);
      await waitFor(() => fake.stats().failures.hang === 1);
      expect(fake.stats().inFlight).toBe(1);
      await expectPromptClose(fake);
      await expect(pending).rejects.toThrow('fetch failed');
    } finally {
      await fake.close();
    }
  });

  it('closes open streams and pending latency as well', async () => {
    const fake = await startFakeLlm({ latencyMs: 10_000 });
    try {
      const slow = chat(fake, chatBody());
      slow.catch(() => undefined);
      await waitFor(() => fake.stats().inFlight === 1);
      fake.configure({ latencyMs: 0, tokenDelayMs: 10_000 });
      const stream = await chat(fake, chatBody(PROMPT, true));
      const reader = stream.body!.getReader();
      await reader.read();
      expect(fake.stats().inFlight).toBe(2);

      await expectPromptClose(fake);
      await expect(slow).rejects.toThrow('fetch failed');
      await expect(reader.read()).rejects.toThrow();
      expect(fake.stats().streams).toEqual({ started: 1, completed: 0, aborted: 1, stalled: 0 });
    } finally {
      await fake.close();
    }
  });
});

describe('fake LLM timeout faults', () => {
  let fake: FakeLlm;

  beforeEach(async () => {
    fake = await startFakeLlm();
  });

  afterEach(async () => {
    await fake.close();
  });

  /** Reads SSE data events until `count` have arrived. */
  async function readEvents(reader: ReadableStreamDefaultReader<Uint8Array>, count: number) {
    let text = '';
    while (parseSse(text).length < count) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`stream ended after ${parseSse(text).length} events`);
      text += new TextDecoder().decode(value);
    }
    return parseSse(text);
  }

  it('stalls a stream after N tokens: no more data, never closed', async () => {
    fake.configure({ stallAfterTokens: 2 });
    const res = await chat(fake, chatBody(PROMPT, true));
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const events = await readEvents(reader, 2);
    const tokens = tokenize(fakeAnswer(PROMPT));
    expect(events.map((e) => JSON.parse(e).choices[0].delta.content)).toEqual(tokens.slice(0, 2));
    await waitFor(() => fake.stats().streams.stalled === 1);
    // Everything the server will ever send is sent; the stream is still open, so the next read
    // fails when the server goes away instead of ending cleanly.
    const next = reader.read();
    next.catch(() => undefined);
    await fake.close();
    await expect(next).rejects.toThrow();
    expect(fake.stats().streams).toMatchObject({
      started: 1,
      completed: 0,
      stalled: 1,
      aborted: 1,
    });
  });

  it('stalls before the end when the answer is shorter than N tokens', async () => {
    const tokens = tokenize(fakeAnswer(PROMPT));
    fake.configure({ stallAfterTokens: tokens.length + 5 });
    const controller = new AbortController();
    const res = await chat(fake, chatBody(PROMPT, true), { signal: controller.signal });
    const events = await readEvents(res.body!.getReader(), tokens.length);
    expect(events).not.toContain('[DONE]');
    await waitFor(() => fake.stats().streams.stalled === 1);
    controller.abort();
    await waitFor(() => fake.stats().inFlight === 0);
    expect(fake.stats().streams).toMatchObject({ completed: 0, aborted: 1 });
  });

  it('sends the headers at once and delays the first token by firstTokenDelayMs', async () => {
    fake.configure({ firstTokenDelayMs: 60_000 });
    const res = await chat(fake, chatBody(PROMPT, true));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const first = res.body!.getReader().read();
    first.catch(() => undefined);
    await waitFor(() => fake.stats().streams.started === 1);
    await fake.close(); // far sooner than a minute: the read fails, no token ever came
    await expect(first).rejects.toThrow();
    expect(fake.stats().streams).toMatchObject({ completed: 0, aborted: 1 });
  });

  it('applies the faults only to faultyModels: a second model answers normally', async () => {
    fake.configure({
      faultyModels: ['gpt-primary'],
      outage: true,
      stallAfterTokens: 0,
      firstTokenDelayMs: 60_000,
    });
    const primary = await chat(fake, { ...chatBody(), model: 'gpt-primary' });
    expect(primary.status).toBe(503);
    const backup = await chat(fake, { ...chatBody(PROMPT, true), model: 'gpt-backup' });
    const events = parseSse(await backup.text());
    expect(events.at(-1)).toBe('[DONE]');
    expect(JSON.parse(events[0]).model).toBe('gpt-backup');
    expect(fake.stats()).toMatchObject({ failures: { outage: 1 }, streams: { stalled: 0 } });
  });

  it('spends one-shot faults only on the faulty model', async () => {
    fake.configure({ faultyModels: ['gpt-primary'], failNext: { count: 1, status: 500 } });
    expect((await chat(fake, { ...chatBody(), model: 'gpt-backup' })).status).toBe(200);
    expect((await chat(fake, { ...chatBody(), model: 'gpt-primary' })).status).toBe(500);
    expect((await chat(fake, { ...chatBody(), model: 'gpt-primary' })).status).toBe(200);
  });

  it('validates the new settings through the admin endpoint', async () => {
    expect((await admin(fake, 'config', { stallAfterTokens: 1.5 })).status).toBe(400);
    expect((await admin(fake, 'config', { stallAfterTokens: -1 })).status).toBe(400);
    expect((await admin(fake, 'config', { firstTokenDelayMs: -5 })).status).toBe(400);
    expect((await admin(fake, 'config', { faultyModels: 'gpt-primary' })).status).toBe(400);
    expect((await admin(fake, 'config', { faultyModels: [''] })).status).toBe(400);
    const set = await admin(fake, 'config', { stallAfterTokens: 3, faultyModels: ['a', 'b'] });
    expect(await set.json()).toMatchObject({ stallAfterTokens: 3, faultyModels: ['a', 'b'] });
    const cleared = (await (await admin(fake, 'config', { stallAfterTokens: null })).json()) as {
      stallAfterTokens?: number;
    };
    expect(cleared.stallAfterTokens).toBeUndefined();
  });
});

describe('fake LLM rate limits (requests and tokens per minute, like OpenAI)', () => {
  let fake: FakeLlm;

  afterEach(async () => {
    await fake.close();
  });

  const limitHeaders = (res: Response, kind: 'requests' | 'tokens') => ({
    limit: res.headers.get(`x-ratelimit-limit-${kind}`),
    remaining: res.headers.get(`x-ratelimit-remaining-${kind}`),
    resetMs: parseResetDuration(res.headers.get(`x-ratelimit-reset-${kind}`) ?? undefined),
  });

  it('counts requests down in x-ratelimit-* headers, then answers 429 with retry-after', async () => {
    fake = await startFakeLlm({ requestsPerMinute: 3, tokensPerMinute: undefined });
    const remaining: Array<string | null> = [];
    for (let i = 0; i < 3; i++) {
      const res = await chat(fake, chatBody());
      expect(res.status).toBe(200);
      const headers = limitHeaders(res, 'requests');
      expect(headers.limit).toBe('3');
      // Refilled continuously: a full bucket of 3 per minute is at most a minute away.
      expect(headers.resetMs).toBeGreaterThan(0);
      expect(headers.resetMs).toBeLessThanOrEqual(60_000);
      remaining.push(headers.remaining);
      expect(res.headers.get('x-ratelimit-limit-tokens')).toBeNull();
    }
    expect(remaining).toEqual(['2', '1', '0']);
    const refused = await chat(fake, chatBody());
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers.get('retry-after-ms'))).toBeGreaterThan(0);
    expect(limitHeaders(refused, 'requests').remaining).toBe('0');
    expect(await refused.json()).toMatchObject({ error: { code: 'rate_limit_exceeded' } });
    expect(fake.stats()).toMatchObject({ received: 4, served: 3, rateLimited: 1 });
    // The openai SDK reads the same answer as a RateLimitError.
    const client = new OpenAI({ baseURL: fake.url, apiKey: 'sk-test', maxRetries: 0 });
    const error = await client.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitError);
    fake.reset();
    expect((await chat(fake, chatBody())).status).toBe(200);
  });

  it('charges prompt + answer tokens, refills them continuously, and refuses what does not fit', async () => {
    // 600 tokens a minute: 10 come back every second.
    fake = await startFakeLlm({ requestsPerMinute: undefined, tokensPerMinute: 600 });
    const big = Array.from({ length: 298 }, () => 'w').join(' ');
    const first = await chat(fake, chatBody(big));
    const usage = ((await first.json()) as { usage: { total_tokens: number } }).usage;
    expect(usage.total_tokens).toBe(298 + 299);
    expect(limitHeaders(first, 'tokens')).toMatchObject({ limit: '600', remaining: '3' });
    expect((await chat(fake, chatBody('hi'))).status).toBe(200); // 1 + 2 tokens: 0 left
    const refused = await chat(fake, chatBody('hi'));
    expect(refused.status).toBe(429);
    const waitMs = Number(refused.headers.get('retry-after-ms'));
    expect(waitMs).toBeGreaterThan(0);
    expect(waitMs).toBeLessThanOrEqual(300);
    await new Promise((resolve) => setTimeout(resolve, waitMs + 50));
    expect((await chat(fake, chatBody('hi'))).status).toBe(200);
    expect(fake.stats()).toMatchObject({ served: 3, rateLimited: 1 });
  });

  it('charges a stream too, and reports its usage in the final chunk', async () => {
    fake = await startFakeLlm({ tokensPerMinute: 20 });
    const body = { ...chatBody(PROMPT, true), stream_options: { include_usage: true } };
    const res = await chat(fake, body);
    expect(limitHeaders(res, 'tokens').remaining).toBe(String(20 - 11));
    const events = parseSse(await res.text());
    expect(JSON.parse(events.at(-2)!).usage.total_tokens).toBe(11); // 5 words + Echo: and 5
    expect((await chat(fake, body)).status).toBe(429); // 11 more do not fit in 9
  });

  it('validates the limits, and null turns one off', async () => {
    fake = await startFakeLlm();
    expect(fake.config()).toMatchObject({ requestsPerMinute: 120, tokensPerMinute: 80_000 });
    expect((await admin(fake, 'config', { requestsPerMinute: 0 })).status).toBe(400);
    expect((await admin(fake, 'config', { tokensPerMinute: 1.5 })).status).toBe(400);
    expect((await admin(fake, 'config', { requestsPerMinute: null })).status).toBe(200);
    const res = await chat(fake, chatBody());
    expect(res.headers.get('x-ratelimit-limit-requests')).toBeNull();
    expect(res.headers.get('x-ratelimit-limit-tokens')).toBe('80000');
  });

  it("formats reset durations as OpenAI does, readable by the library's parser", () => {
    const cases: Array<[number, string]> = [
      [0, '0s'],
      [250, '250ms'],
      [1_000, '1s'],
      [1_500, '1.5s'],
      [360_000, '6m0s'],
      [3_723_000, '1h2m3s'],
    ];
    for (const [ms, text] of cases) {
      expect(formatDuration(ms)).toBe(text);
      expect(parseResetDuration(text)).toBe(ms);
    }
  });
});

describe('fake LLM conversations', () => {
  let fake: FakeLlm;

  beforeAll(async () => {
    fake = await startFakeLlm();
  });

  afterAll(async () => {
    await fake.close();
  });

  it('continues a partial answer given as a trailing assistant message', async () => {
    const messages = [
      { role: 'user', content: PROMPT },
      { role: 'assistant', content: 'Echo: tell me' },
    ];
    const res = await chat(fake, { model: MODEL, messages });
    const body = (await res.json()) as { choices: Array<{ message: { content: string } }> };
    expect(body.choices[0].message.content).toBe(' a short story');
    expect(`Echo: tell me${body.choices[0].message.content}`).toBe(fakeAnswer(PROMPT));
  });

  it('counts a client that leaves a hung request', async () => {
    fake.configure({ hang: true });
    const client = new AbortController();
    const pending = chat(fake, chatBody(), { signal: client.signal });
    await waitFor(() => fake.stats().inFlight === 1);
    client.abort();
    await expect(pending).rejects.toThrow();
    await waitFor(() => fake.stats().clientAborts === 1);
    expect(fake.stats().inFlight).toBe(0);
  });
});

describe('fakeLlmOptionsFromEnv', () => {
  it('reads the documented variables and ignores unset ones', () => {
    const options = fakeLlmOptionsFromEnv({
      FAKE_LLM_PORT: '8089',
      FAKE_LLM_LATENCY_MS: '25',
      FAKE_LLM_FAILURE_RATE: '0.2',
      FAKE_LLM_RATE_LIMIT_NEXT: '2',
      FAKE_LLM_RETRY_AFTER_MS: '100',
      FAKE_LLM_FAIL_NEXT: '3',
      FAKE_LLM_OUTAGE: 'true',
      FAKE_LLM_HANG: '',
      FAKE_LLM_STALL_AFTER_TOKENS: '3',
      FAKE_LLM_FIRST_TOKEN_DELAY_MS: '500',
      FAKE_LLM_FAULTY_MODELS: 'gpt-primary, gpt-mini',
      FAKE_LLM_RPM: '60',
      FAKE_LLM_TPM: '9000',
    });
    expect(options).toEqual({
      port: 8089,
      latencyMs: 25,
      failureRate: 0.2,
      rateLimitNext: 2,
      retryAfterMs: 100,
      failNext: { count: 3, status: 503 },
      outage: true,
      stallAfterTokens: 3,
      firstTokenDelayMs: 500,
      faultyModels: ['gpt-primary', 'gpt-mini'],
      requestsPerMinute: 60,
      tokensPerMinute: 9000,
    });
  });

  it('throws on malformed values', () => {
    expect(() => fakeLlmOptionsFromEnv({ FAKE_LLM_LATENCY_MS: 'slow' })).toThrow(
      /FAKE_LLM_LATENCY_MS/,
    );
    expect(() => fakeLlmOptionsFromEnv({ FAKE_LLM_OUTAGE: 'maybe' })).toThrow(/FAKE_LLM_OUTAGE/);
  });
});

describe('official openai SDK against the fake', () => {
  let fake: FakeLlm;
  let client: OpenAI;

  beforeAll(async () => {
    fake = await startFakeLlm();
    client = new OpenAI({ baseURL: fake.url, apiKey: 'test', maxRetries: 0 });
  });

  afterAll(async () => {
    await fake.close();
  });

  beforeEach(() => {
    fake.reset();
  });

  it('creates a chat completion', async () => {
    const completion = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: PROMPT }],
    });
    expect(completion.choices[0]?.message.content).toBe(fakeAnswer(PROMPT));
    expect(completion.choices[0]?.finish_reason).toBe('stop');
  });

  it('streams a chat completion', async () => {
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: PROMPT }],
      stream: true,
    });
    const pieces: string[] = [];
    let finishReason: string | null = null;
    for await (const chunk of stream) {
      pieces.push(chunk.choices[0]?.delta.content ?? '');
      finishReason = chunk.choices[0]?.finish_reason ?? finishReason;
    }
    expect(pieces.join('')).toBe(fakeAnswer(PROMPT));
    expect(finishReason).toBe('stop');
    expect(fake.stats().streams.completed).toBe(1);
  });

  it('surfaces a 429 as RateLimitError with status and Headers', async () => {
    fake.configure({ rateLimitNext: 1, retryAfterSeconds: 2, retryAfterMs: 1500 });
    const error = await client.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: PROMPT }] })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(error).toBeInstanceOf(RateLimitError);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    const apiError = error as RateLimitError;
    expect(apiError.constructor.name).toBe('RateLimitError');
    expect(apiError.status).toBe(429);
    expect(apiError.headers).toBeInstanceOf(Headers);
    expect(apiError.headers.get('retry-after')).toBe('2');
    expect(apiError.headers.get('retry-after-ms')).toBe('1500');
    expect(apiError.code).toBe('rate_limit_exceeded');
    expect(apiError.type).toBe('requests');
    expect(apiError.error).toMatchObject({ code: 'rate_limit_exceeded' });
    expect(apiError.message).toMatch(/^429 Rate limit reached/);
  });

  it('surfaces a 503 as InternalServerError', async () => {
    fake.configure({ failNext: { count: 1, status: 503 } });
    const error = await client.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: PROMPT }] })
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(InternalServerError);
    expect((error as InternalServerError).status).toBe(503);
  });

  it('lets the SDK built-in retry honour retry-after-ms when maxRetries > 0', async () => {
    fake.configure({ rateLimitNext: 1, retryAfterMs: 10 });
    const retrying = client.withOptions({ maxRetries: 1 });
    const completion = await retrying.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: PROMPT }],
    });
    expect(completion.choices[0]?.message.content).toBe(fakeAnswer(PROMPT));
    expect(fake.stats()).toMatchObject({ received: 2, served: 1, failures: { rateLimit: 1 } });
  });
});
