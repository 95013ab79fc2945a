import { CircuitBreakerPolicy, type CircuitBreakerOptions } from '../lib/index.js';
import type { Row } from './harness.js';
import { op, sequential } from './rows.js';

/**
 * Issue 17: the closed path of a breaker that opens on a failure rate, with a count window and
 * with a time window, beside the consecutive-failure breaker of the `closed` scenario (the same
 * calls, all successful, so the window never opens it).
 */
export const COUNT_WINDOW: CircuitBreakerOptions = {
  failureRateThreshold: 0.5,
  minimumCalls: 20,
  windowSize: 100,
};
export const TIME_WINDOW: CircuitBreakerOptions = {
  failureRateThreshold: 0.5,
  minimumCalls: 20,
  windowMs: 60_000,
};

/** The consecutive breaker's row (bench/scenarios.ts), the yardstick of the window rows. */
export const CONSECUTIVE_ROW = 'ours: CircuitBreakerPolicy.call';
export const WINDOW_ROWS = [
  'ours: CircuitBreakerPolicy.call, count window (windowSize 100)',
  'ours: CircuitBreakerPolicy.call, time window (windowMs 60 s)',
] as const;

export function windowRows(): Row[] {
  const count = new CircuitBreakerPolicy('bench.closed.window.count', COUNT_WINDOW);
  const time = new CircuitBreakerPolicy('bench.closed.window.time', TIME_WINDOW);
  return sequential('closed', 'resolve', [
    [WINDOW_ROWS[0], 'ours', () => count.call(op)],
    [WINDOW_ROWS[1], 'ours', () => time.call(op)],
  ]);
}
