import { describe, expect, it } from '@jest/globals';
import { isInvalidOptionsError } from '../core/invalid-options.error.js';
import { resolveTimeoutOptions } from './timeout-options.js';
import { isTimeoutError, TimeoutError } from './timeout.error.js';
import { isOrchestratorError } from '../core/orchestrator.error.js';

function refusal(options: unknown): { path: string; reason: string } {
  try {
    resolveTimeoutOptions(options as never, 'policy "llm"');
  } catch (error) {
    if (isInvalidOptionsError(error)) return { path: error.path, reason: error.reason };
    throw error;
  }
  throw new Error('accepted');
}

describe('resolveTimeoutOptions', () => {
  it('reads a number as { ms } and keeps the stream limits', () => {
    expect(resolveTimeoutOptions(500)).toEqual({ ms: 500 });
    expect(resolveTimeoutOptions({ ms: 500, firstItemMs: 100, idleMs: 900 })).toEqual({
      ms: 500,
      firstItemMs: 100,
      idleMs: 900,
    });
    expect(resolveTimeoutOptions(2_147_483_647).ms).toBe(2_147_483_647);
  });

  it.each([0, -1, NaN, Infinity, 2_147_483_648, '100', undefined])(
    'refuses ms %p, naming the field',
    (ms) => {
      expect(refusal({ ms }).path).toBe('policy "llm": timeout.ms');
      expect(refusal({ ms }).reason).toMatch(/finite number of ms > 0 and <= 2147483647/);
    },
  );

  it('refuses a bad number given alone', () => {
    expect(refusal(Infinity).path).toBe('policy "llm": timeout.ms');
  });

  it.each(['firstItemMs', 'idleMs'])('validates %s like ms', (field) => {
    for (const value of [0, NaN, Infinity, 3_000_000_000, 'x']) {
      expect(refusal({ ms: 1_000, [field]: value }).path).toBe(`policy "llm": timeout.${field}`);
    }
  });

  it('refuses firstItemMs above ms', () => {
    const { path, reason } = refusal({ ms: 100, firstItemMs: 101 });
    expect(path).toBe('policy "llm": timeout.firstItemMs');
    expect(reason).toMatch(/<= ms \(100\)/);
  });

  it('refuses unknown keys by name', () => {
    const { path, reason } = refusal({ ms: 100, timeoutMs: 5 });
    expect(path).toBe('policy "llm": timeout.timeoutMs');
    expect(reason).toMatch(/not a timeout option/);
  });

  it('refuses a value that is neither a number nor an object', () => {
    expect(refusal(null).path).toBe('policy "llm": timeout');
    expect(refusal('5s').path).toBe('policy "llm": timeout');
  });
});

describe('TimeoutError', () => {
  it('carries the policy, the limit and the phase, and is recognised by its guard', () => {
    const error = new TimeoutError('llm', 250, 'first-item');
    expect(error).toMatchObject({
      code: 'TIMEOUT',
      name: 'TimeoutError',
      policy: 'llm',
      timeoutMs: 250,
      phase: 'first-item',
    });
    expect(error.message).toBe('"llm" timed out: the wait for the first item exceeded 250 ms');
    expect(isTimeoutError(error)).toBe(true);
    expect(isOrchestratorError(error)).toBe(true);
    expect(isTimeoutError(new Error('TIMEOUT'))).toBe(false);
  });
});
