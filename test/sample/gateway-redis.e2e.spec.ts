import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createGateway, type Gateway, type GatewayStatus } from '../../sample-app/index.js';
import { startRedis, type RedisServerHandle } from '../support/redis/index.js';

/**
 * Two gateways with `REDIS_URL` set, one fake provider: the fleet shares one dedupe, one cap
 * and one circuit through a private redis-server on a loopback port.
 */

let redis: RedisServerHandle;
let a: Gateway;
let b: Gateway;

const ENV = {
  LLM_CAPACITY: '2',
  LLM_SOFT_LIMIT: '1',
  LLM_BREAKER_THRESHOLD: '1',
  LLM_BREAKER_RECOVERY_MS: '300',
  LLM_RETRY_MAX_ATTEMPTS: '1',
};

function post(gateway: Gateway, prompt: string): Promise<Response> {
  return fetch(`${gateway.url}/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt }),
  });
}

async function status(gateway: Gateway): Promise<GatewayStatus> {
  return (await (await fetch(`${gateway.url}/orchestrator/status`)).json()) as GatewayStatus;
}

function fake() {
  return a.fake!;
}

beforeAll(async () => {
  redis = await startRedis();
  const prefix = `gateway-test-${process.pid}:`;
  a = await createGateway({ env: { ...ENV, REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix } });
  b = await createGateway({
    env: { ...ENV, REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, LLM_BASE_URL: a.fake!.url },
  });
  // Warm both apps up (first requests compile their code paths), so that no Redis round trip
  // of a test outlasts the stores' operationTimeoutMs and falls back to in-process state.
  for (const gateway of [a, b, a, b]) await post(gateway, 'warm-up');
});

afterAll(async () => {
  await b?.close();
  await a?.close();
  await redis?.stop();
});

beforeEach(() => fake().reset());

describe('a fleet of two gateways on Redis (REDIS_URL)', () => {
  it('runs on the Redis stores', async () => {
    expect([a.stores, b.stores]).toEqual(['redis', 'redis']);
    expect((await status(b)).stores).toEqual({
      circuitBreaker: 'RedisCircuitBreakerStore',
      dedupe: 'RedisDedupeStore',
      backpressure: 'RedisBackpressureStore',
    });
  });

  it('makes one provider call for the same prompt sent to both gateways at once', async () => {
    fake().configure({ latencyMs: 250 });
    const prompt = 'one prompt, two gateways';
    // The first two take the fleet's two slots; the later two join running executions and take
    // none. (Duplicates that arrive while the first call still waits on Redis for its slot
    // would each try to take a slot of their own.)
    const first = [post(a, prompt), post(b, prompt)];
    await new Promise((resolve) => setTimeout(resolve, 150));
    const responses = await Promise.all([...first, post(a, prompt), post(b, prompt)]);
    const ids = await Promise.all(
      responses.map(async (r) => ((await r.json()) as { id: string }).id),
    );
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(new Set(ids).size).toBe(1);
    expect(fake().stats().received).toBe(1);
  });

  it('holds one cap for the fleet', async () => {
    fake().configure({ latencyMs: 300 });
    const responses = await Promise.all(
      [a, b, a, b, a, b].map((gateway, i) => post(gateway, `fleet overload ${i}`)),
    );
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 429, 429, 429, 429]);
    expect(fake().stats().peakInFlight).toBe(2);
  });

  it('opens the circuit for both gateways when one of them sees the outage', async () => {
    fake().configure({ outage: true });
    // The outage hits both models: the primary's call and the secondary's fallback fail, and
    // both circuits open for the fleet.
    expect((await post(a, 'outage seen by a')).status).toBe(502);
    const refused = await post(b, 'refused by b');
    expect(refused.status).toBe(503);
    expect(fake().stats().received).toBe(2);
    expect((await status(b)).circuits).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'llm', state: 'open' }),
        expect.objectContaining({ name: 'llm-secondary', state: 'open' }),
      ]),
    );

    fake().configure({ outage: false });
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect((await post(b, 'probe from b')).status).toBe(200);
    expect((await post(a, 'back on a')).status).toBe(200);
  });
});
