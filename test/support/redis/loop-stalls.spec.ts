import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { LoopStalls } from './loop-stalls.js';

describe('LoopStalls', () => {
  // The interval is driven by fake timers; `clock` says when each tick really ran.
  let clock = 0;
  let stalls: LoopStalls;

  beforeEach(() => {
    jest.useFakeTimers();
    clock = 1000;
    stalls = new LoopStalls(10, 1, () => clock);
  });

  afterEach(() => {
    stalls.stop();
    jest.useRealTimers();
  });

  /** One tick, `lateMs` after it was due. */
  const tick = (lateMs = 0) => {
    clock += 10 + lateMs;
    jest.advanceTimersByTime(10);
  };

  it('counts a late tick as a stall ending when it ran, and only the part inside a span', () => {
    tick();
    tick(150); // ran at 1170: held up from 1020 to 1170
    tick();

    expect(stalls.within(1000, 1200)).toBe(150);
    expect(stalls.within(1100, 1200)).toBe(70);
    expect(stalls.within(1000, 1050)).toBe(30);
    expect(stalls.within(1170, 1300)).toBe(0);
    expect(stalls.longest()).toBe(150);
  });

  it('ignores lateness within the grace, and stops ticking once stopped', () => {
    tick(1);
    tick(1);
    stalls.stop();
    tick(500);

    expect(stalls.within(0, Infinity)).toBe(0);
    expect(stalls.longest()).toBe(0);
  });
});
