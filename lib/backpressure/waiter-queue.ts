import type { BackpressurePermit } from './backpressure.guard.js';

/** A caller waiting for a slot. */
export interface Waiter {
  /** Epoch ms after which the caller is shed. */
  readonly deadline: number;
  resolve(permit: BackpressurePermit): void;
  reject(error: unknown): void;
  /** Stops listening to the caller's AbortSignal, if it gave one. */
  detach?: () => void;
}

/**
 * The callers waiting for a slot, oldest first. Every waiter of a guard waits `maxWaitMs`, so
 * deadlines grow in queue order and only the head's deadline ever needs a timer. Shifting is
 * O(1) (a moving head index); a cancelled waiter is dropped where it sits.
 */
export class WaiterQueue {
  private items: Array<Waiter | undefined> = [];
  private head = 0;
  private live = 0;

  get size(): number {
    return this.live;
  }

  push(waiter: Waiter): void {
    this.items.push(waiter);
    this.live++;
  }

  peek(): Waiter | undefined {
    this.skipCancelled();
    return this.items[this.head];
  }

  shift(): Waiter | undefined {
    this.skipCancelled();
    if (this.head >= this.items.length) return undefined;
    const waiter = this.items[this.head];
    this.items[this.head++] = undefined;
    this.live--;
    this.compact();
    return waiter;
  }

  /** Removes a waiter that gave up (its signal aborted); false when it was no longer queued. */
  remove(waiter: Waiter): boolean {
    const index = this.items.indexOf(waiter, this.head);
    if (index === -1) return false;
    this.items[index] = undefined;
    this.live--;
    return true;
  }

  private skipCancelled(): void {
    while (this.head < this.items.length && this.items[this.head] === undefined) this.head++;
  }

  private compact(): void {
    if (this.head < 1024 || this.head * 2 < this.items.length) return;
    this.items = this.items.slice(this.head);
    this.head = 0;
  }
}
