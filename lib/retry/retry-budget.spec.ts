import { describe, expect, it } from '@jest/globals';
import { FakeClock } from '../../test/support/fake-clock.js';
import type { OrchestratorEvent } from '../core/events.js';
import { PolicyEngine } from '../core/policy-engine.js';
import type { ProtectedMethod } from '../core/protected-method.js';
import { InMemoryRateLimitStore } from '../rate-limit/in-memory-rate-limit.store.js';
import { RetryBudget } from './retry-budget.js';
import { retryKind } from './retry.kind.js';
import { RetryPolicy } from './retry.policy.js';

const fast = { baseDelayMs: 1, jitter: 'none' } as const;

describe('RetryBudget', () => {
  it('allows ratio x calls plus minPerSecond x 10 retries over the sliding 10 s', () => {
    const clock = new FakeClock();
    const budget = new RetryBudget(
      'b',
      { ratio: 0.1, minPerSecond: 0 },
      new InMemoryRateLimitStore(clock),
    );
    for (let i = 0; i < 50; i++) budget.recordCall();
    const allowed = Array.from({ length: 10 }, () => budget.allowsRetry());
    expect(allowed.filter(Boolean)).toHaveLength(5);
    clock.advance(10_001); // the calls and retries left the window
    for (let i = 0; i < 10; i++) budget.recordCall();
    expect(budget.allowsRetry()).toBe(true);
    expect(budget.allowsRetry()).toBe(false);
  });

  it('always allows minPerSecond per second of window', () => {
    const budget = new RetryBudget(
      'b',
      { ratio: 0, minPerSecond: 0.5 },
      new InMemoryRateLimitStore(new FakeClock()),
    );
    const allowed = Array.from({ length: 8 }, () => budget.allowsRetry());
    expect(allowed.filter(Boolean)).toHaveLength(5);
  });

  it.each([
    [{ ratio: -1 }, 'retry.budget.ratio should be a number >= 0, got -1'],
    [{ ratio: 0, minPerSecond: 0 }, 'retry.budget.ratio should be above 0 when minPerSecond is 0'],
    [
      { ratio: 0.2, perSecond: 1 },
      'retry.budget.perSecond is not an option; did you mean minPerSecond?',
    ],
  ])('refuses %j', (budget, message) => {
    expect(() => new RetryPolicy({ budget: budget as never })).toThrow(message);
  });
});

describe('RetryPolicy with a budget', () => {
  it('stops retrying once the budget is spent, so an outage cannot multiply the load', async () => {
    const events: OrchestratorEvent[] = [];
    const sink = { active: true, emit: (e: OrchestratorEvent) => events.push(e) };
    const policy = new RetryPolicy(
      { maxAttempts: 3, ...fast, budget: { ratio: 0.2, minPerSecond: 0 } },
      { events: sink, name: 'llm' },
    );
    let attempts = 0;
    const failing = () => {
      attempts++;
      return Promise.reject(new Error('down'));
    };
    for (let i = 0; i < 20; i++) await policy.execute(failing).catch(() => undefined);
    // Without a budget: 20 calls x 3 attempts = 60. With 20 %: 20 first attempts + 4 retries.
    expect(attempts).toBe(24);
    expect(events.filter((e) => e.type === 'retry.budget-exhausted').length).toBeGreaterThan(0);
  });

  it('shares one budget by name between methods with different retry settings', async () => {
    const engine = PolicyEngine.standalone();
    const budget = { ratio: 0.5, minPerSecond: 0, name: 'shared' };
    let attemptsOfB = 0;
    const method = (methodName: string, maxAttempts: number, original: () => Promise<never>) =>
      ({
        className: 'C',
        methodName,
        original,
        kind: 'promise',
        signalIndex: -1,
        specs: [{ kind: retryKind, ref: { maxAttempts, ...fast, budget } }],
      }) as unknown as ProtectedMethod;
    const a = engine.compile(method('a', 1, () => Promise.reject(new Error('a'))));
    const b = engine.compile(
      method('b', 5, () => {
        attemptsOfB++;
        return Promise.reject(new Error('b'));
      }),
    );
    for (let i = 0; i < 4; i++) await (a.invoke(null, []) as Promise<unknown>).catch(() => 0);
    await (b.invoke(null, []) as Promise<unknown>).catch(() => 0);
    // Shared: 5 calls fund 2.5 retries. A budget of b's own (1 call) would fund none.
    expect(attemptsOfB).toBe(3);
  });
});
