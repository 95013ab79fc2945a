import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { FakeClock, flushMicrotasks } from '../../test/support/fake-clock.js';
import { DeadlineEntry, DeadlineQueue } from './deadline-queue.js';

class Recorded extends DeadlineEntry {
  constructor(
    readonly label: string,
    private readonly log: string[],
  ) {
    super();
  }
  expire(): void {
    this.log.push(this.label);
  }
}

describe('DeadlineQueue with Jest fake timers', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('expires entries in order with one timer, re-armed for the next live head', async () => {
    const log: string[] = [];
    const queue = new DeadlineQueue(100);
    const [a, b, c] = ['a', 'b', 'c'].map((label) => new Recorded(label, log));
    queue.add(a);
    jest.advanceTimersByTime(30);
    queue.add(b);
    jest.advanceTimersByTime(30);
    queue.add(c);
    expect(jest.getTimerCount()).toBe(1);
    queue.remove(a); // the timer armed for a finds nothing due and re-arms for b
    jest.advanceTimersByTime(40); // 100 ms: a's old deadline
    expect(log).toEqual([]);
    jest.advanceTimersByTime(29);
    expect(log).toEqual([]);
    jest.advanceTimersByTime(1); // 130 ms: b
    expect(log).toEqual(['b']);
    jest.advanceTimersByTime(30); // 160 ms: c
    expect(log).toEqual(['b', 'c']);
    expect(queue.size).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('renew moves an entry back with a fresh deadline', () => {
    const log: string[] = [];
    const queue = new DeadlineQueue(50);
    const gap = new Recorded('gap', log);
    queue.add(gap);
    jest.advanceTimersByTime(40);
    queue.renew(gap);
    jest.advanceTimersByTime(49);
    expect(log).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(log).toEqual(['gap']);
  });

  it('keeps its order when the clock steps back: deadlines then fire later by the step', () => {
    const log: string[] = [];
    const queue = new DeadlineQueue(100);
    const first = new Recorded('first', log);
    queue.add(first);
    jest.setSystemTime(Date.now() - 1_000);
    const second = new Recorded('second', log);
    queue.add(second);
    expect(second.deadline).toBe(first.deadline);
    jest.advanceTimersByTime(1_099);
    expect(log).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(log).toEqual(['first', 'second']);
  });

  it('does not keep the process alive: its timer is unref-ed', () => {
    const unref = jest.fn();
    const real = globalThis.setTimeout;
    const spy = jest
      .spyOn(globalThis, 'setTimeout')
      .mockImplementation(((fn: () => void, ms: number) =>
        Object.assign(real(fn, ms), { unref })) as unknown as typeof setTimeout);
    try {
      new DeadlineQueue(10).add(new Recorded('x', []));
      expect(unref).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('DeadlineQueue with an injected clock', () => {
  it('sleeps on the clock, so advancing the clock fires the deadlines', async () => {
    const clock = new FakeClock();
    const log: string[] = [];
    const queue = new DeadlineQueue(100, clock);
    queue.add(new Recorded('a', log));
    clock.advance(60);
    queue.add(new Recorded('b', log));
    expect(clock.pendingSleeps).toBe(1);
    clock.advance(40);
    await flushMicrotasks();
    expect(log).toEqual(['a']);
    clock.advance(60);
    await flushMicrotasks();
    expect(log).toEqual(['a', 'b']);
  });
});
