import { describe, expect, it } from '@jest/globals';
import { FakeClock } from '../../test/support/fake-clock.js';
import type { OrchestratorEvent } from '../core/events.js';
import { InvalidOptionsError } from '../core/invalid-options.error.js';
import {
  resolveCircuitBreakerOptions,
  type CircuitBreakerOptions,
} from './circuit-breaker-options.js';
import { CircuitBreakerPolicy } from './circuit-breaker.policy.js';
import { InMemoryCircuitBreakerStore } from './in-memory-circuit-breaker.store.js';

function breaker(options: CircuitBreakerOptions) {
  const clock = new FakeClock();
  const events: OrchestratorEvent[] = [];
  const policy = new CircuitBreakerPolicy('svc', options, new InMemoryCircuitBreakerStore(clock), {
    clock,
    events: { active: true, emit: (event) => events.push(event) },
  });
  const opened = () =>
    events.flatMap((e) => (e.type === 'circuit.state' && e.to === 'open' ? [e.reason] : []));
  return { policy, clock, opened };
}

const ok = async () => 'ok';
const fail = () => Promise.reject(new Error('down'));

describe('failure-rate window', () => {
  it('opens on the failure rate once the window holds minimumCalls, not on consecutive failures', async () => {
    const { policy, opened } = breaker({
      failureRateThreshold: 0.5,
      minimumCalls: 4,
      windowSize: 4,
      threshold: 1,
    });
    await policy.call(fail).catch(() => undefined);
    await policy.call(fail).catch(() => undefined);
    await policy.call(ok);
    expect(await policy.state()).toBe('closed'); // 3 calls < minimumCalls, threshold 1 unused
    expect(await policy.snapshot()).toMatchObject({ windowCalls: 3, failureRate: 2 / 3 });

    await policy.call(ok); // 2 of 4 failed: 50%

    expect(await policy.state()).toBe('open');
    expect(opened()).toEqual(['failure-rate']);
  });

  it('keeps counting consecutive failures when no rate threshold is set, and says so', async () => {
    const { policy, opened } = breaker({ threshold: 2, windowSize: 4, minimumCalls: 2 });
    await policy.call(fail).catch(() => undefined);
    await policy.call(fail).catch(() => undefined);

    expect(opened()).toEqual(['consecutive-failures']);
    expect(await policy.snapshot()).not.toHaveProperty('windowCalls');
  });
});

describe('slow-call window', () => {
  it('opens on the share of calls slower than slowCallMs, timed by the clock', async () => {
    const { policy, clock, opened } = breaker({
      slowCallMs: 100,
      slowCallRateThreshold: 0.5,
      minimumCalls: 2,
      windowSize: 2,
    });
    const slow = () => clock.sleep(150).then(() => 'late');
    const pending = policy.call(slow);
    clock.advance(150);
    await pending;
    expect(await policy.snapshot()).toMatchObject({ windowCalls: 1, slowCallRate: 1 });

    const second = policy.call(async () => 'fast');
    await second;

    expect(opened()).toEqual(['slow-call-rate']);
  });

  it('times a stream from its admission to its end', async () => {
    const { policy, clock, opened } = breaker({
      slowCallMs: 100,
      slowCallRateThreshold: 1,
      minimumCalls: 1,
      windowSize: 1,
    });
    const admission = await policy.admit();
    if (!admission.admitted) throw new Error('closed circuit should admit');
    const startedAt = policy.startTime();
    clock.advance(101);
    policy.settle(admission, 'success', startedAt);

    expect(opened()).toEqual(['slow-call-rate']);
  });
});

describe('the closed path of a window breaker', () => {
  /** A FakeClock that counts its readings: on this hot path a reading costs 20 to 60 ns. */
  function countingBreaker(options: CircuitBreakerOptions) {
    const clock = new FakeClock();
    let readings = 0;
    const counted = Object.assign(Object.create(clock) as FakeClock, {
      now: () => (readings++, clock.now()),
    });
    const policy = new CircuitBreakerPolicy(
      'svc',
      options,
      new InMemoryCircuitBreakerStore(counted),
      {
        clock: counted,
      },
    );
    return { policy, clock, readings: () => readings };
  }

  it('reads no clock with a count window', async () => {
    const { policy, readings } = countingBreaker({ failureRateThreshold: 0.5, windowSize: 20 });
    for (let i = 0; i < 50; i++) await policy.call(ok);
    await policy.call(fail).catch(() => undefined);

    expect(readings()).toBe(0);
  });

  it('reads the clock once per outcome with a time window, and still expires old buckets', async () => {
    const { policy, clock, readings } = countingBreaker({
      failureRateThreshold: 0.5,
      minimumCalls: 4,
      windowMs: 1000,
    });
    for (let i = 0; i < 3; i++) await policy.call(fail).catch(() => undefined);
    expect(readings()).toBe(3);
    clock.advance(1000); // the three failures leave the window
    for (let i = 0; i < 3; i++) await policy.call(ok);
    await policy.call(fail).catch(() => undefined); // 1 of 4: stays closed
    expect(await policy.state()).toBe('closed');
    await policy.call(fail).catch(() => undefined); // 2 of 5 ... then 3 of 6 opens
    await policy.call(fail).catch(() => undefined);

    expect(await policy.state()).toBe('open');
    expect(readings()).toBeGreaterThanOrEqual(9);
  });
});

describe('window options', () => {
  const invalid = (options: CircuitBreakerOptions, path: string) => {
    expect(() => resolveCircuitBreakerOptions(options)).toThrow(InvalidOptionsError);
    expect(() => resolveCircuitBreakerOptions(options)).toThrow(
      expect.objectContaining({ path: `circuitBreaker.${path}` }),
    );
  };

  it('default minimumCalls 10 and windowSize 20', () => {
    expect(resolveCircuitBreakerOptions({ failureRateThreshold: 0.5 })).toMatchObject({
      minimumCalls: 10,
      windowSize: 20,
    });
  });

  it('refuse thresholds outside (0, 1]', () => {
    invalid({ failureRateThreshold: 0 }, 'failureRateThreshold');
    invalid({ failureRateThreshold: 1.5 }, 'failureRateThreshold');
    invalid({ slowCallMs: 10, slowCallRateThreshold: -0.1 }, 'slowCallRateThreshold');
    invalid({ failureRateThreshold: Number.NaN }, 'failureRateThreshold');
  });

  it('refuse counts that are not positive integers, and minimumCalls above windowSize', () => {
    invalid({ minimumCalls: 0 }, 'minimumCalls');
    invalid({ windowSize: 2.5 }, 'windowSize');
    invalid({ minimumCalls: 30 }, 'minimumCalls'); // windowSize defaults to 20
    invalid({ minimumCalls: 5, windowSize: 4 }, 'minimumCalls');
  });

  it('refuse both windows at once, and a slow-call rate without slowCallMs', () => {
    invalid({ windowSize: 10, windowMs: 1000 }, 'windowMs');
    invalid({ windowMs: 0 }, 'windowMs');
    invalid({ windowMs: Infinity }, 'windowMs');
    invalid({ slowCallRateThreshold: 0.5 }, 'slowCallRateThreshold');
  });

  it('accept a time window with more minimumCalls than the default windowSize', () => {
    expect(() =>
      resolveCircuitBreakerOptions({
        failureRateThreshold: 0.5,
        windowMs: 10_000,
        minimumCalls: 50,
      }),
    ).not.toThrow();
  });
});
