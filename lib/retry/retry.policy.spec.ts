import { describe, expect, it } from '@jest/globals';
import { FakeClock, flushMicrotasks } from '../../test/support/fake-clock.js';
import { CircuitOpenError } from '../circuit-breaker/circuit-open.error.js';
import { InvalidOptionsError } from '../core/invalid-options.error.js';
import type { OrchestratorEvent } from '../core/events.js';
import { RetryPolicy } from './retry.policy.js';

const MAX_RETRY_DELAY = 60_000;

describe('RetryPolicy (seed tests)', () => {
  it('test_retry_policy_rejects_zero_attempts', () => {
    expect(() => RetryPolicy.exponential(0, 100)).toThrow(InvalidOptionsError);
  });

  it('rejects a zero base delay (no busy-loop retries)', () => {
    expect(() => RetryPolicy.exponential(3, 0)).toThrow(
      'RetryPolicy: retry.baseDelayMs should be a number >= 1, got 0',
    );
  });

  it('test_retry_policy_delay_attempt_1_equals_base', () => {
    expect(RetryPolicy.exponential(3, 100).delayFor(1)).toBe(100);
  });

  it('test_retry_policy_delay_doubles_each_attempt', () => {
    const p = RetryPolicy.exponential(5, 100);
    expect([p.delayFor(2), p.delayFor(3), p.delayFor(4)]).toEqual([200, 400, 800]);
  });

  it('test_retry_policy_delay_capped_at_max', () => {
    expect(RetryPolicy.exponential(10, 10_000).delayFor(10)).toBe(MAX_RETRY_DELAY);
  });

  it('test_retry_policy_delay_never_exceeds_max_for_any_attempt', () => {
    const p = RetryPolicy.exponential(10, 1000);
    for (let attempt = 1; attempt <= 10; attempt++) {
      expect(p.delayFor(attempt)).toBeLessThanOrEqual(MAX_RETRY_DELAY);
    }
    expect(p.delayFor(10_000)).toBe(MAX_RETRY_DELAY);
  });
});

describe('RetryPolicy.nextDelay', () => {
  const fixedRandom = (value: number) => () => value;

  it("gives exactly the capped exponential delay with jitter 'none'", () => {
    const p = new RetryPolicy({
      maxAttempts: 5,
      baseDelayMs: 100,
      maxDelayMs: 300,
      jitter: 'none',
    });
    expect([1, 2, 3, 4].map((n) => p.nextDelay(new Error('x'), n))).toEqual([100, 200, 300, 300]);
  });

  it('spreads full, equal and decorrelated jitter within their bounds', () => {
    const options = { maxAttempts: 5, baseDelayMs: 100 } as const;
    const full = new RetryPolicy({ ...options, jitter: 'full' }, { random: fixedRandom(0.5) });
    const equal = new RetryPolicy({ ...options, jitter: 'equal' }, { random: fixedRandom(0.5) });
    const decorrelated = new RetryPolicy(
      { ...options, jitter: 'decorrelated' },
      { random: fixedRandom(0.5) },
    );
    expect(full.nextDelay(new Error(), 2)).toBe(100); // half of 200
    expect(equal.nextDelay(new Error(), 2)).toBe(150); // 100 + half of 100
    expect(decorrelated.nextDelay(new Error(), 2, 200)).toBe(350); // 100 + 0.5 * (600 - 100)
  });

  it('gives up when the attempts run out', () => {
    const p = new RetryPolicy({ maxAttempts: 2 });
    expect(p.nextDelay(new Error(), 1)).toBeDefined();
    expect(p.nextDelay(new Error(), 2)).toBeUndefined();
  });

  it("does not retry the library's own rejections by default", () => {
    const p = new RetryPolicy({ maxAttempts: 3 });
    expect(p.nextDelay(new CircuitOpenError('c', 10), 1)).toBeUndefined();
  });

  it('asks retryOn with the error and the attempt that failed', () => {
    const seen: Array<[unknown, number]> = [];
    const p = new RetryPolicy({
      maxAttempts: 3,
      retryOn: (error, attempt) => {
        seen.push([error, attempt]);
        return false;
      },
    });
    const error = new Error('nope');
    expect(p.nextDelay(error, 1)).toBeUndefined();
    expect(seen).toEqual([[error, 1]]);
  });

  it('honours Retry-After hints, capped at maxDelayMs', () => {
    const p = new RetryPolicy({ maxAttempts: 3, maxDelayMs: 5_000 });
    expect(p.nextDelay({ retryAfterMs: 1234 }, 1)).toBe(1234);
    expect(p.nextDelay({ headers: { 'retry-after': '2' } }, 1)).toBe(2000);
    expect(p.nextDelay({ headers: new Headers({ 'retry-after-ms': '250' }) }, 1)).toBe(250);
    expect(p.nextDelay({ response: { headers: { 'Retry-After': '60' } } }, 1)).toBe(5_000);
  });

  it('reads an empty retry-after-ms header as no hint, not as zero', () => {
    const p = new RetryPolicy({ maxAttempts: 3, jitter: 'none' });
    expect(p.nextDelay({ headers: { 'retry-after-ms': '', 'retry-after': '3' } }, 1)).toBe(3000);
  });

  it('treats a retryOn that throws as "do not retry"', () => {
    const p = new RetryPolicy({
      maxAttempts: 3,
      retryOn: () => {
        throw new Error('filter bug');
      },
    });
    expect(p.nextDelay(new Error('x'), 1)).toBeUndefined();
  });

  it('ignores the hint when honorRetryAfter is false', () => {
    const p = new RetryPolicy({ maxAttempts: 3, jitter: 'none', honorRetryAfter: false });
    expect(p.nextDelay({ retryAfterMs: 4000 }, 1)).toBe(100);
  });
});

describe('RetryPolicy.execute', () => {
  it('retries until success, waiting the computed delays', async () => {
    const clock = new FakeClock();
    const events: OrchestratorEvent[] = [];
    const sink = { active: true, emit: (e: OrchestratorEvent) => events.push(e) };
    const p = new RetryPolicy({ maxAttempts: 3, jitter: 'none' }, { clock, events: sink });
    let attempts = 0;
    const result = p.execute(async () => {
      attempts++;
      if (attempts < 3) throw new Error(`fail ${attempts}`);
      return 'ok';
    });
    await flushMicrotasks();
    expect(attempts).toBe(1);
    clock.advance(99);
    await flushMicrotasks();
    expect(attempts).toBe(1);
    clock.advance(1);
    await flushMicrotasks();
    expect(attempts).toBe(2);
    clock.advance(200);
    await expect(result).resolves.toBe('ok');
    expect(events.map((e) => e.type === 'retry.scheduled' && e.delayMs)).toEqual([100, 200]);
  });

  it('rethrows the last error unchanged when attempts run out', async () => {
    const clock = new FakeClock();
    const p = new RetryPolicy({ maxAttempts: 2, jitter: 'none' }, { clock });
    const errors = [new Error('first'), new Error('second')];
    let i = 0;
    const result = p.execute(() => {
      throw errors[i++];
    });
    await flushMicrotasks();
    clock.advance(100);
    await expect(result).rejects.toBe(errors[1]);
  });
});
