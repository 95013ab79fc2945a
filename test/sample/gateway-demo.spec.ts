import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { formatSummary, runDemo } from '../../sample-app/demo/scenario.js';
import { createGateway, type Gateway } from '../../sample-app/index.js';

describe('npm run demo (the scripted scenario)', () => {
  let gateway: Gateway;

  beforeAll(async () => {
    gateway = await createGateway({
      env: {
        LLM_CAPACITY: '3',
        LLM_BREAKER_RECOVERY_MS: '1000',
        LLM_RETRY_BASE_DELAY_MS: '5',
        // Above the provider latency of the bursts (150 + 200 ms), which must not time out.
        LLM_CALL_TIMEOUT_MS: '1000',
        LLM_FIRST_TOKEN_TIMEOUT_MS: '300',
        LLM_IDLE_TIMEOUT_MS: '300',
      },
    });
  });

  afterAll(() => gateway.close());

  it('shows dedupe savings, sheds, a retry, circuits, fallbacks, timeouts and rate limits', async () => {
    let printed = '';
    const summary = await runDemo({
      gatewayUrl: gateway.url,
      out: { interactive: false, write: (text) => void (printed += text) },
      duplicates: 10,
      burstLatencyMs: 150,
    });

    expect(summary.checks.filter((c) => !c.ok)).toEqual([]);
    expect(summary.phases.map((p) => p.name)).toEqual([
      'duplicate burst',
      'overload burst',
      'rate limit (429)',
      'provider outage',
      'recovery',
      'hung primary',
      'stream stalls',
      'slow first token',
      'token burst',
      'primary outage',
    ]);
    expect(summary).toMatchObject({
      duplicateRequests: 10,
      duplicateProviderCalls: 1,
      capacity: 3,
    });
    expect(summary.phases[1].statuses).toEqual({ 200: 3, 429: 9 });
    const primary = summary.transitions.filter((t) => t.circuit === 'llm');
    const moves = primary.map((t) => `${t.from}->${t.to}`);
    // Opened by the outage of both models, closed after recovery, opened by the primary's own.
    expect(moves[0]).toBe('closed->open');
    expect(moves).toContain('half-open->closed');
    expect(moves.at(-1)).toBe('closed->open');
    expect(summary.transitions.some((t) => t.circuit === 'llm-secondary' && t.to === 'open')).toBe(
      true,
    );
    // Every phase of the primary's trouble was answered by the secondary model.
    const byName = (name: string) => summary.phases.find((p) => p.name === name)!;
    for (const name of ['hung primary', 'stream stalls', 'slow first token', 'primary outage']) {
      expect(byName(name).statuses).toEqual({ 200: byName(name).sent });
    }
    expect(summary.fallbacks).toMatchObject({ 'stream-interrupted': 1 });
    expect(summary.fallbacks.timeout).toBeGreaterThanOrEqual(2);
    expect(summary.timeouts).toMatchObject({ 'first-item': 1, idle: 1 });
    // The token burst: no provider 429, and each answered request charged its reported usage.
    const burst = summary.rateLimitBurst;
    expect(burst.providerRateLimited).toBe(0);
    expect(burst.refused + burst.waited).toBeGreaterThan(0);
    expect(byName('token burst').statuses[429]).toBe(burst.refused);
    expect(new Set(burst.charged).size).toBe(1);
    expect(burst.charged[0]).toBeLessThanOrEqual(burst.estimate);
    // Provider calls are the fake provider's own count: the sum over the phases.
    expect(summary.providerCalls).toBe(summary.phases.reduce((n, p) => n + p.providerCalls, 0));
    expect(printed).toContain('duplicate burst');

    const text = formatSummary(summary);
    expect(text).toContain('dedupe savings           9 of 10 duplicate requests (90%)');
    expect(text).toMatch(/llm {2}closed -> open/);
    expect(text).toMatch(/llm {2}half-open -> closed/);
    expect(text).toContain(`tokens per request       ${burst.estimate} reserved`);
    expect(text).toContain('0 provider 429s');
    expect(text).not.toContain('✘');
  });
});
