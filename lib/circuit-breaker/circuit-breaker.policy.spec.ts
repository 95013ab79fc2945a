import { describe, expect, it } from '@jest/globals';
import { FakeClock } from '../../test/support/fake-clock.js';
import { InvalidOptionsError } from '../core/invalid-options.error.js';
import type { OrchestratorEvent } from '../core/events.js';
import { CircuitBreakerPolicy } from './circuit-breaker.policy.js';
import { CircuitOpenError, isCircuitOpenError } from './circuit-open.error.js';
import { InMemoryCircuitBreakerStore } from './in-memory-circuit-breaker.store.js';

const fail = () => Promise.reject(new Error('oops'));
const failTimes = async (cb: CircuitBreakerPolicy, n: number) => {
  for (let i = 0; i < n; i++) await cb.call(fail).catch(() => undefined);
};
const breaker = (threshold: number, recoveryWindowMs: number, clock = new FakeClock()) =>
  new CircuitBreakerPolicy(
    'svc',
    { threshold, recoveryWindowMs },
    new InMemoryCircuitBreakerStore(clock),
  );

describe('CircuitBreakerPolicy (seed tests)', () => {
  it('test_circuit_breaker_rejects_zero_threshold', () => {
    expect(() => new CircuitBreakerPolicy('svc', { threshold: 0, recoveryWindowMs: 1000 })).toThrow(
      new InvalidOptionsError(
        'CircuitBreakerPolicy: circuitBreaker.threshold',
        'should be an integer >= 1, got 0',
      ),
    );
  });

  it('test_circuit_breaker_starts_closed', async () => {
    expect(await breaker(3, 60_000).state()).toBe('closed');
  });

  it('test_circuit_breaker_success_keeps_closed', async () => {
    const cb = breaker(3, 60_000);
    await expect(cb.call(async () => 42)).resolves.toBe(42);
    expect(await cb.state()).toBe('closed');
  });

  it('test_circuit_breaker_opens_after_threshold_failures', async () => {
    const cb = breaker(3, 60_000);
    await failTimes(cb, 2);
    expect(await cb.state()).toBe('closed');
    await failTimes(cb, 1);
    expect(await cb.state()).toBe('open');
  });

  it('test_circuit_breaker_open_fast_fails', async () => {
    const cb = breaker(1, 3_600_000);
    await failTimes(cb, 1);
    let ran = false;
    const result = cb.call(async () => {
      ran = true;
    });
    await expect(result).rejects.toBeInstanceOf(CircuitOpenError);
    await expect(result).rejects.toMatchObject({ circuit: 'svc', retryAfterMs: 3_600_000 });
    expect(ran).toBe(false);
  });

  it('test_circuit_breaker_success_resets_failure_count', async () => {
    const cb = breaker(5, 60_000);
    await failTimes(cb, 2);
    expect(await cb.failureCount()).toBe(2);
    await cb.call(async () => 1);
    expect(await cb.failureCount()).toBe(0);
  });

  it('test_circuit_breaker_half_open_on_recovery', async () => {
    const cb = breaker(1, 0);
    await failTimes(cb, 1);
    await expect(cb.call(async () => 99)).resolves.toBe(99);
    expect(await cb.state()).toBe('closed');
  });

  it('test_circuit_breaker_with_custom_backend_uses_backend_state', async () => {
    const shared = new InMemoryCircuitBreakerStore(new FakeClock());
    const cb1 = new CircuitBreakerPolicy('svc', { threshold: 2, recoveryWindowMs: 60_000 }, shared);
    const cb2 = new CircuitBreakerPolicy('svc', { threshold: 2, recoveryWindowMs: 60_000 }, shared);
    await failTimes(cb1, 1);
    expect(await cb2.failureCount()).toBe(1);
    await failTimes(cb1, 1);
    expect(await cb2.state()).toBe('open');
  });

  it('test_in_memory_backend_increments_and_resets (as admit/record/snapshot/force)', () => {
    const clock = new FakeClock();
    const store = new InMemoryCircuitBreakerStore(clock);
    const config = {
      threshold: 3,
      recoveryWindowMs: 1000,
      halfOpenMaxCalls: 1,
      probeLeaseMs: 5000,
    };
    expect(store.snapshot({ circuit: 'svc', config }).failures).toBe(0);
    const admission = store.admit({ circuit: 'svc', config });
    if (!admission.admitted) throw new Error('closed circuit should admit');
    store.record({ circuit: 'svc', config, admission, outcome: 'failure' });
    expect(store.snapshot({ circuit: 'svc', config }).failures).toBe(1);
    store.record({ circuit: 'svc', config, admission, outcome: 'failure' });
    expect(store.snapshot({ circuit: 'svc', config }).failures).toBe(2);
    store.record({ circuit: 'svc', config, admission, outcome: 'success' });
    expect(store.snapshot({ circuit: 'svc', config }).failures).toBe(0);
    expect(store.snapshot({ circuit: 'svc', config }).openUntil).toBeNull();
    store.force({ circuit: 'svc', config, state: 'open' });
    expect(store.snapshot({ circuit: 'svc', config })).toMatchObject({
      state: 'open',
      openUntil: null, // held until closed by hand: no recovery window
      forced: true,
    });
    store.force({ circuit: 'svc', config, state: 'closed' });
    expect(store.snapshot({ circuit: 'svc', config }).openUntil).toBeNull();
  });

  it('test_circuit_state_eq (states are plain strings)', async () => {
    const cb = breaker(1, 60_000);
    const closed = await cb.state();
    await failTimes(cb, 1);
    const open = await cb.state();
    expect(closed).toBe('closed');
    expect(open).toBe('open');
    expect(closed).not.toBe(open);
  });

  it('test_concurrent_circuit_breaker_opens_under_concurrent_failures', async () => {
    const cb = breaker(5, 60_000);
    await Promise.all(Array.from({ length: 16 }, () => cb.call(fail).catch(() => undefined)));
    expect(await cb.state()).toBe('open');
  });

  it('test_per_service_tracking_is_independent', async () => {
    const store = new InMemoryCircuitBreakerStore(new FakeClock());
    const a = new CircuitBreakerPolicy(
      'service-a',
      { threshold: 3, recoveryWindowMs: 60_000 },
      store,
    );
    const b = new CircuitBreakerPolicy(
      'service-b',
      { threshold: 3, recoveryWindowMs: 60_000 },
      store,
    );
    await failTimes(a, 3);
    expect(await b.state()).toBe('closed');
    expect(await a.state()).toBe('open');
  });
});

describe('CircuitBreakerPolicy beyond the seed', () => {
  it('moves to half-open only after the recovery window, on the clock', async () => {
    const clock = new FakeClock();
    const cb = breaker(1, 10_000, clock);
    await failTimes(cb, 1);
    clock.advance(9_999);
    expect(await cb.state()).toBe('open');
    await expect(cb.call(async () => 1)).rejects.toMatchObject({ retryAfterMs: 1 });
    clock.advance(1);
    expect(await cb.state()).toBe('half-open');
  });

  it('half-open admits exactly halfOpenMaxCalls of many concurrent callers', async () => {
    const clock = new FakeClock();
    const store = new InMemoryCircuitBreakerStore(clock);
    const cb = new CircuitBreakerPolicy(
      'svc',
      { threshold: 1, recoveryWindowMs: 100, halfOpenMaxCalls: 3 },
      store,
    );
    await failTimes(cb, 1);
    clock.advance(100);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started = 0;
    const calls = Array.from({ length: 50 }, () =>
      cb.call(async () => {
        started++;
        await gate;
        return 'probe';
      }),
    );
    const settled = Promise.allSettled(calls);
    await Promise.resolve();
    expect(started).toBe(3);
    release();
    const results = await settled;
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected).toHaveLength(47);
    expect(rejected.every((r) => isCircuitOpenError((r as PromiseRejectedResult).reason))).toBe(
      true,
    );
    expect(await cb.state()).toBe('closed');
  });

  it("a probe's failure re-opens the circuit for another window", async () => {
    const clock = new FakeClock();
    const cb = breaker(2, 1_000, clock);
    await failTimes(cb, 2);
    clock.advance(1_000);
    await failTimes(cb, 1);
    expect(await cb.state()).toBe('open');
    await expect(cb.call(async () => 1)).rejects.toMatchObject({ retryAfterMs: 1_000 });
  });

  it('a hung probe loses its slot after probeLeaseMs', async () => {
    const clock = new FakeClock();
    const store = new InMemoryCircuitBreakerStore(clock);
    const cb = new CircuitBreakerPolicy(
      'svc',
      { threshold: 1, recoveryWindowMs: 10, probeLeaseMs: 500 },
      store,
    );
    await failTimes(cb, 1);
    clock.advance(10);
    void cb.call(() => new Promise(() => undefined)); // never settles
    await expect(cb.call(async () => 1)).rejects.toBeInstanceOf(CircuitOpenError);
    clock.advance(500);
    await expect(cb.call(async () => 2)).resolves.toBe(2);
  });

  it('errors excluded by isFailure count as neither success nor failure', async () => {
    class NotFound extends Error {}
    const cb = new CircuitBreakerPolicy(
      'svc',
      { threshold: 2, isFailure: (e) => !(e instanceof NotFound) },
      new InMemoryCircuitBreakerStore(new FakeClock()),
    );
    await failTimes(cb, 1);
    await cb.call(() => Promise.reject(new NotFound())).catch(() => undefined);
    expect(await cb.failureCount()).toBe(1);
    await failTimes(cb, 1);
    expect(await cb.state()).toBe('open');
  });

  it('ignores outcomes from an earlier epoch (a late result after the circuit moved on)', async () => {
    const clock = new FakeClock();
    const cb = breaker(1, 60_000, clock);
    let finishSlowCall!: (v: string) => void;
    const slow = cb.call(() => new Promise<string>((resolve) => (finishSlowCall = resolve)));
    await failTimes(cb, 1);
    expect(await cb.state()).toBe('open');
    finishSlowCall('late');
    await slow;
    // Counted, the late success would have reset the failures to 0.
    expect(await cb.failureCount()).toBe(1);
    expect(await cb.state()).toBe('open');
  });

  it('counts a synchronous throw as a failure', async () => {
    const cb = breaker(1, 60_000);
    await expect(
      cb.call(() => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(await cb.state()).toBe('open');
  });

  it('opens and closes by hand, reporting transitions as events', async () => {
    const events: OrchestratorEvent[] = [];
    const cb = new CircuitBreakerPolicy(
      'svc',
      {},
      new InMemoryCircuitBreakerStore(new FakeClock()),
      {
        events: { active: true, emit: (e) => events.push(e) },
      },
    );
    await cb.open();
    expect(await cb.state()).toBe('open');
    await cb.close();
    expect(await cb.state()).toBe('closed');
    expect(events.map((e) => (e.type === 'circuit.state' ? `${e.from}>${e.to}` : e.type))).toEqual([
      'closed>open',
      'open>closed',
    ]);
  });

  it('rejects cheaply: the open-circuit error carries no captured stack frames', async () => {
    const cb = breaker(1, 60_000);
    await failTimes(cb, 1);
    const error = await cb.call(async () => 1).catch((e: Error) => e);
    expect(error).toBeInstanceOf(CircuitOpenError);
    expect((error as Error).stack?.split('\n')).toHaveLength(1);
  });

  it('counts live probes by lease, whichever probe settles first', () => {
    const clock = new FakeClock();
    const store = new InMemoryCircuitBreakerStore(clock);
    const config = { threshold: 1, recoveryWindowMs: 10, halfOpenMaxCalls: 2, probeLeaseMs: 100 };
    const opener = store.admit({ circuit: 'svc', config });
    if (!opener.admitted) throw new Error('closed circuit should admit');
    store.record({ circuit: 'svc', config, admission: opener, outcome: 'failure' });
    clock.advance(10);
    const first = store.admit({ circuit: 'svc', config });
    clock.advance(100); // the first probe's lease has run out
    const second = store.admit({ circuit: 'svc', config });
    const third = store.admit({ circuit: 'svc', config });
    expect([first.admitted, second.admitted, third.admitted]).toEqual([true, true, true]);
    if (!first.admitted) throw new Error('unreachable');
    store.record({ circuit: 'svc', config, admission: first, outcome: 'ignored' }); // the lapsed probe reports late
    expect(store.admit({ circuit: 'svc', config }).admitted).toBe(false); // two live probes still hold both slots
    expect(store.snapshot({ circuit: 'svc', config }).probesInFlight).toBe(2);
  });

  it('an isFailure that throws counts the call as a failure and keeps the original error', async () => {
    const cb = new CircuitBreakerPolicy(
      'svc',
      {
        threshold: 1,
        isFailure: () => {
          throw new Error('filter bug');
        },
      },
      new InMemoryCircuitBreakerStore(new FakeClock()),
    );
    await expect(cb.call(() => Promise.reject(new Error('call failed')))).rejects.toThrow(
      'call failed',
    );
    expect(await cb.state()).toBe('open');
  });

  it('forcing an open circuit open again holds it without a second transition', async () => {
    const events: OrchestratorEvent[] = [];
    const clock = new FakeClock();
    const cb = new CircuitBreakerPolicy(
      'svc',
      { recoveryWindowMs: 1000 },
      new InMemoryCircuitBreakerStore(clock),
      { events: { active: true, emit: (e) => events.push(e) } },
    );
    await cb.open();
    clock.advance(600);
    await cb.open();
    clock.advance(600);
    expect(await cb.state()).toBe('open');
    expect(events.filter((e) => e.type === 'circuit.state')).toHaveLength(1);
  });
});
