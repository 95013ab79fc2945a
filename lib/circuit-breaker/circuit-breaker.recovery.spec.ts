import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { OrchestratorEvent } from '../core/events.js';
import { CircuitBreakerPolicy } from './circuit-breaker.policy.js';
import { CircuitOpenError } from './circuit-open.error.js';
import { InMemoryCircuitBreakerStore } from './in-memory-circuit-breaker.store.js';

/*
 * When the open -> half-open transition is reported, and how long a forced open lasts. Jest fake
 * timers drive both the store's timer and its clock (the system clock reads the faked Date.now).
 */

const WINDOW_MS = 10_000;

function breaker(options: { recoveryWindowMs?: number; threshold?: number } = {}) {
  const events: OrchestratorEvent[] = [];
  const policy = new CircuitBreakerPolicy(
    'svc',
    { threshold: 1, recoveryWindowMs: WINDOW_MS, ...options },
    new InMemoryCircuitBreakerStore(),
    { events: { active: true, emit: (event) => events.push(event) } },
  );
  const transitions = () =>
    events.flatMap((e) => (e.type === 'circuit.state' ? [`${e.from}>${e.to}`] : []));
  return { policy, events, transitions };
}

const fail = () => Promise.reject(new Error('down'));

beforeEach(() => {
  // The engine defers a refusal by a microtask: only timers and the clock are faked.
  jest.useFakeTimers({ doNotFake: ['queueMicrotask', 'nextTick'] });
});
afterEach(() => {
  jest.useRealTimers();
});

describe('the open -> half-open transition', () => {
  it('is reported when the recovery window ends, with no call to trigger it', async () => {
    const { policy, transitions, events } = breaker();
    await policy.call(fail).catch(() => undefined);
    const openedAt = Date.now();

    jest.advanceTimersByTime(WINDOW_MS - 1);
    expect(transitions()).toEqual(['closed>open']);
    jest.advanceTimersByTime(1);

    expect(transitions()).toEqual(['closed>open', 'open>half-open']);
    expect(events.at(-1)).toMatchObject({ at: openedAt + WINDOW_MS });
    expect((await policy.snapshot()).state).toBe('half-open');
  });

  it('is reported once when a call moved the circuit first', async () => {
    const { policy, transitions } = breaker();
    await policy.call(fail).catch(() => undefined);
    jest.setSystemTime(Date.now() + WINDOW_MS); // the clock moves, the timer has not fired yet

    await expect(policy.call(async () => 'probe')).resolves.toBe('probe');
    jest.advanceTimersByTime(WINDOW_MS);

    expect(transitions()).toEqual(['closed>open', 'open>half-open', 'half-open>closed']);
  });

  it('is reported again after a probe failure re-opens the circuit', async () => {
    const { policy, transitions } = breaker();
    await policy.call(fail).catch(() => undefined);
    jest.advanceTimersByTime(WINDOW_MS);
    await policy.call(fail).catch(() => undefined); // the probe fails

    jest.advanceTimersByTime(WINDOW_MS);

    expect(transitions()).toEqual([
      'closed>open',
      'open>half-open',
      'half-open>open',
      'open>half-open',
    ]);
  });

  it('never comes once close() ended the open state', async () => {
    const { policy, transitions } = breaker();
    await policy.call(fail).catch(() => undefined);
    await policy.close();

    jest.advanceTimersByTime(WINDOW_MS * 3);

    expect(transitions()).toEqual(['closed>open', 'open>closed']);
    expect(jest.getTimerCount()).toBe(0);
  });
});

describe('open() by hand', () => {
  it('holds the circuit open past the recovery window until close()', async () => {
    const { policy, transitions } = breaker();
    await policy.open();

    jest.advanceTimersByTime(WINDOW_MS * 5);

    const rejected = await policy.call(async () => 'ran').catch((error: unknown) => error);
    expect(rejected).toBeInstanceOf(CircuitOpenError);
    expect(rejected).toMatchObject({ retryAfterMs: WINDOW_MS });
    expect(await policy.snapshot()).toMatchObject({ state: 'open', forced: true, openUntil: null });
    expect(transitions()).toEqual(['closed>open']);

    await policy.close();
    await expect(policy.call(async () => 'ran')).resolves.toBe('ran');
    expect(transitions()).toEqual(['closed>open', 'open>closed']);
  });

  it('holds a circuit that failures had opened, and cancels its pending half-open', async () => {
    const { policy, transitions } = breaker();
    await policy.call(fail).catch(() => undefined);
    await policy.open(); // already open: held, no second transition

    jest.advanceTimersByTime(WINDOW_MS * 2);

    expect(transitions()).toEqual(['closed>open']);
    expect((await policy.snapshot()).state).toBe('open');
    expect(jest.getTimerCount()).toBe(0);
  });

  it('holds even with a recovery window of 0, hinting a 1 s retry', async () => {
    const { policy } = breaker({ recoveryWindowMs: 0 });
    await policy.open();
    jest.advanceTimersByTime(5000);

    const rejected = await policy.call(async () => 'ran').catch((error: unknown) => error);
    expect(rejected).toMatchObject({ retryAfterMs: 1000 });
  });
});
