import { RETRY_BUDGET_WINDOW_MS } from './rate-limit.store.js';

type Counter = 'calls' | 'retries';

/**
 * Calls and retries over a sliding window, in one-second buckets: bounded memory (ten pairs),
 * and a bucket older than the window is cleared when its slot comes round again.
 */
export class SlidingCounts {
  private readonly bucketMs = 1000;
  private readonly slots: number;
  private readonly starts: number[];
  private readonly calls: number[];
  private readonly retries: number[];

  constructor(readonly windowMs: number = RETRY_BUDGET_WINDOW_MS) {
    this.slots = Math.ceil(windowMs / this.bucketMs);
    this.starts = new Array<number>(this.slots).fill(-Infinity);
    this.calls = new Array<number>(this.slots).fill(0);
    this.retries = new Array<number>(this.slots).fill(0);
  }

  add(counter: Counter, count: number, now: number): void {
    const slot = this.slotAt(now);
    (counter === 'calls' ? this.calls : this.retries)[slot] += count;
  }

  totals(now: number): { calls: number; retries: number } {
    let calls = 0;
    let retries = 0;
    const oldest = now - this.windowMs;
    for (let i = 0; i < this.slots; i++) {
      if (this.starts[i] <= oldest) continue;
      calls += this.calls[i];
      retries += this.retries[i];
    }
    return { calls, retries };
  }

  private slotAt(now: number): number {
    const start = now - (now % this.bucketMs);
    const slot = Math.floor(start / this.bucketMs) % this.slots;
    if (this.starts[slot] !== start) {
      this.starts[slot] = start;
      this.calls[slot] = 0;
      this.retries[slot] = 0;
    }
    return slot;
  }
}
