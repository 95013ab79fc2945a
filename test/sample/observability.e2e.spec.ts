import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createGateway, type Gateway } from '../../sample-app/index.js';

/** The gateway's /metrics, /health and /dashboard over real HTTP on 127.0.0.1. */

const RECOVERY_MS = 300;
const ENV = {
  LLM_BREAKER_THRESHOLD: '2',
  LLM_BREAKER_RECOVERY_MS: String(RECOVERY_MS),
  LLM_RETRY_MAX_ATTEMPTS: '2',
  LLM_RETRY_BASE_DELAY_MS: '5',
};

let gateway: Gateway;

beforeAll(async () => {
  gateway = await createGateway({ env: ENV });
});

afterAll(async () => {
  await gateway?.close();
});

function chat(prompt: string): Promise<Response> {
  return fetch(`${gateway.url}/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt }),
  });
}

async function text(path: string): Promise<{ status: number; body: string; type: string }> {
  const response = await fetch(`${gateway.url}${path}`);
  return {
    status: response.status,
    body: await response.text(),
    type: response.headers.get('content-type') ?? '',
  };
}

describe('the gateway observability routes', () => {
  it('serves the library metrics in Prometheus text on the gateway port', async () => {
    expect((await chat('metrics please')).status).toBe(200);
    const { status, body } = await text('/metrics');
    expect(status).toBe(200);
    expect(body).toMatch(
      /orchestrator_calls_total\{[^}]*policy="llm"[^}]*outcome="success"[^}]*\} 1\b/,
    );
    expect(body).toMatch(
      /orchestrator_call_duration_bucket\{[^}]*outcome="success"[^}]*le="60"\} 1/,
    );
    expect(body).toMatch(/orchestrator_circuit_state\{circuit="llm",state="closed"[^}]*\} 1/);
    expect(body).toMatch(/orchestrator_backpressure_capacity\{guard="llm"[^}]*\} 4/);
  });

  it('serves the GenAI client metrics of the provider requests', async () => {
    expect((await chat('count my tokens')).status).toBe(200);
    const { body } = await text('/metrics');
    expect(body).toMatch(
      /gen_ai_client_operation_duration_count\{[^}]*gen_ai_operation_name="chat"[^}]*gen_ai_request_model="gpt-primary"[^}]*\} [1-9]/,
    );
    expect(body).toMatch(
      /gen_ai_client_token_usage_count\{[^}]*gen_ai_token_type="input"[^}]*\} [1-9]/,
    );
    expect(body).toMatch(
      /gen_ai_client_token_usage_count\{[^}]*gen_ai_token_type="output"[^}]*\} [1-9]/,
    );
  });

  it('answers /health 200 while the circuit is closed, 503 while it is open', async () => {
    expect((await text('/health')).status).toBe(200);
    gateway.fake!.configure({ outage: true });
    for (const prompt of ['down 1', 'down 2']) expect((await chat(prompt)).status).toBe(502);
    const down = await text('/health');
    expect(down.status).toBe(503);
    expect(JSON.parse(down.body).error.orchestrator).toMatchObject({
      status: 'down',
      circuits: { llm: 'open' },
    });
    gateway.fake!.configure({ outage: false });
    await new Promise((resolve) => setTimeout(resolve, RECOVERY_MS + 50));
    expect((await chat('after')).status).toBe(200);
    expect((await text('/health')).status).toBe(200);
  });

  it('serves the dashboard page and its live event stream', async () => {
    const page = await text('/dashboard');
    expect(page.status).toBe(200);
    expect(page.type).toContain('text/html');
    expect(page.body).toContain('/dashboard/events');
    const controller = new AbortController();
    const response = await fetch(`${gateway.url}/dashboard/events`, { signal: controller.signal });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let received = '';
    while (!received.includes('\n\n')) received += (await reader.read()).value ?? '';
    controller.abort();
    expect(received).toMatch(/^event: snapshot\n/m);
    const data = JSON.parse(/^data: (.*)$/m.exec(received)![1]);
    expect(data.circuits).toContainEqual(expect.objectContaining({ name: 'llm' }));
    expect(data.calls.success).toBeGreaterThanOrEqual(1);
  });
});
