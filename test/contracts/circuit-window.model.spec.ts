import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { CircuitConfig } from '../../lib/circuit-breaker/circuit-breaker.store.js';
import { InMemoryCircuitBreakerStore } from '../../lib/circuit-breaker/in-memory-circuit-breaker.store.js';
import { FakeClock } from '../support/fake-clock.js';
import { WindowModel, windowScenario, type WindowScenario } from './store-models.js';

/*
 * Model-based test of the failure-rate / slow-call windows of the in-memory store: fast-check
 * generates calls (clock moves, outcomes, durations) and each must leave the store where the
 * reference model of store-models.ts says, until the circuit opens, with the reason the model
 * gives. The clock is a FakeClock, so time windows are exact.
 */

const NUM_RUNS = Number(process.env.MODEL_RUNS ?? 300);

function configOf(scenario: WindowScenario): CircuitConfig {
  const { failureRateThreshold, slowCallRateThreshold, slowCallMs, minimumCalls } = scenario;
  return {
    threshold: 1, // unused with rates: a single failure must not open the circuit
    recoveryWindowMs: 600_000,
    halfOpenMaxCalls: 1,
    probeLeaseMs: 600_000,
    slowCallMs,
    minimumCalls,
    ...(failureRateThreshold !== undefined ? { failureRateThreshold } : {}),
    ...(slowCallRateThreshold !== undefined ? { slowCallRateThreshold } : {}),
    ...(scenario.windowMs !== undefined
      ? { windowMs: scenario.windowMs }
      : { windowSize: scenario.windowSize }),
  };
}

function run(scenario: WindowScenario): void {
  const clock = new FakeClock(1_700_000_000_000 + 37); // not bucket-aligned
  const store = new InMemoryCircuitBreakerStore(clock);
  const model = new WindowModel(scenario);
  const config = configOf(scenario);
  const circuit = 'window';
  for (const [index, call] of scenario.calls.entries()) {
    clock.advance(call.advanceMs);
    const admission = store.admit({ circuit, config });
    if (!admission.admitted) throw new Error(`call ${index}: refused while the model is closed`);
    const { outcome, durationMs } = call;
    const transition = store.record({ circuit, config, admission, outcome, durationMs });
    const expected = model.record(clock.now(), outcome, durationMs);
    const what = `call ${index} (${JSON.stringify(call)})`;
    if (expected.opened !== undefined) {
      expect({ what, transition }).toEqual({
        what,
        transition: { from: 'closed', to: 'open', at: clock.now(), reason: expected.opened },
      });
      expect(store.admit({ circuit, config }).admitted).toBe(false);
      return;
    }
    expect({ what, transition }).toEqual({ what, transition: undefined });
    const snapshot = store.snapshot({ circuit, config });
    const rate = (n: number) => (expected.calls === 0 ? 0 : n / expected.calls);
    expect({ what, snapshot }).toMatchObject({
      what,
      snapshot: {
        state: 'closed',
        windowCalls: expected.calls,
        failureRate: rate(expected.failures),
        slowCallRate: rate(expected.slow),
      },
    });
  }
}

describe('in-memory failure-rate and slow-call windows behave as their reference model', () => {
  it('opens exactly when, and for the reason, the model does', () => {
    fc.assert(fc.property(windowScenario, run), { numRuns: NUM_RUNS });
  });
});
