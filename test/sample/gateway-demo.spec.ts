import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { formatSummary, runDemo } from '../../sample-app/demo/scenario.js';
import { createGateway, type Gateway } from '../../sample-app/index.js';

describe('npm run demo (the scripted scenario)', () => {
  let gateway: Gateway;

  beforeAll(async () => {
    gateway = await createGateway({
      env: { LLM_CAPACITY: '3', LLM_BREAKER_RECOVERY_MS: '200', LLM_RETRY_BASE_DELAY_MS: '5' },
    });
  });

  afterAll(() => gateway.close());

  it('shows dedupe savings, sheds, a retry, and a circuit that opens and closes', async () => {
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
    ]);
    expect(summary).toMatchObject({
      duplicateRequests: 10,
      duplicateProviderCalls: 1,
      capacity: 3,
    });
    expect(summary.phases[1].statuses).toEqual({ 200: 3, 429: 9 });
    expect(summary.transitions.map((t) => `${t.from}->${t.to}`)).toEqual([
      'closed->open',
      'open->half-open',
      'half-open->closed',
    ]);
    // Provider calls are the fake provider's own count: the sum over the phases.
    expect(summary.providerCalls).toBe(summary.phases.reduce((n, p) => n + p.providerCalls, 0));
    expect(printed).toContain('duplicate burst');

    const text = formatSummary(summary);
    expect(text).toContain('dedupe savings           9 of 10 duplicate requests (90%)');
    expect(text).toMatch(/closed -> open\n.*open -> half-open\n.*half-open -> closed/);
    expect(text).not.toContain('✘');
  });
});
