import { describe, expect, it } from '@jest/globals';
import { HealthGate } from '../../lib/redis/health-gate.js';

function gate(failureThreshold = 3, cooldownMs = 1000) {
  let now = 0;
  const log: string[] = [];
  const health = new HealthGate(
    { failureThreshold, cooldownMs, now: () => now },
    {
      degraded: (_error, retryInMs) => log.push(`degraded ${retryInMs}`),
      recovered: (ms) => log.push(`recovered ${ms}`),
    },
  );
  return { health, log, advance: (ms: number) => (now += ms) };
}

describe('HealthGate (the backend breaker)', () => {
  it('lets calls through until `failureThreshold` consecutive failures, then refuses them', () => {
    const { health, log } = gate(3);
    health.failure(health.enter(), new Error('1'));
    health.failure(health.enter(), new Error('2'));
    expect(health.enter()).toBe('call');

    health.failure('call', new Error('3'));

    expect(log).toEqual(['degraded 1000']);
    expect(health.enter()).toBe('refused');
    expect(health.open).toBe(false);
  });

  it('resets the count on a success', () => {
    const { health, log } = gate(2);
    health.failure('call', new Error());
    health.success('call');
    health.failure('call', new Error());

    expect(log).toEqual([]);
    expect(health.enter()).toBe('call');
  });

  it('lets one probe through after the cooldown; its success recovers', () => {
    const { health, log, advance } = gate(1, 500);
    health.failure('call', new Error());
    advance(499);
    expect(health.enter()).toBe('refused');
    advance(1);

    expect(health.enter()).toBe('probe');
    expect(health.enter()).toBe('refused');
    health.success('probe');

    expect(log).toEqual(['degraded 500', 'recovered 500']);
    expect(health.enter()).toBe('call');
  });

  it('stays degraded for another cooldown when the probe fails', () => {
    const { health, advance } = gate(1, 500);
    health.failure('call', new Error());
    advance(500);
    health.failure(health.enter(), new Error());

    advance(499);
    expect(health.enter()).toBe('refused');
    advance(1);
    expect(health.enter()).toBe('probe');
  });

  it('ignores late answers to calls sent before it degraded', () => {
    const { health, log } = gate(1, 500);
    health.failure('call', new Error());
    health.success('call');
    health.failure('call', new Error());

    expect(health.degraded).toBe(true);
    expect(log).toEqual(['degraded 500']);
  });

  it('trips at once on a refusal that will not pass by itself, and stays degraded while probes meet it', () => {
    const { health, log, advance } = gate(3, 1000);

    health.trip(health.enter(), new Error('NOPERM'));

    expect(log).toEqual(['degraded 1000']);
    expect(health.enter()).toBe('refused');
    advance(1000);
    const probe = health.enter();
    expect(probe).toBe('probe');
    health.trip(probe, new Error('NOPERM'));
    expect(log).toEqual(['degraded 1000']);
    expect(health.enter()).toBe('refused');
    advance(1000);
    health.success(health.enter());
    expect(log).toEqual(['degraded 1000', 'recovered 2000']);
  });
});
