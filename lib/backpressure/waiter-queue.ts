import type { BackpressurePermit } from './backpressure-permit.js';
import { Slot } from './slot.js';

/** A caller waiting for a slot. */
export interface Waiter {
  /** Epoch ms after which the caller is shed; set by the guard as it queues the waiter. */
  deadline: number;
  /** The slot this waiter will hold, for the guard to fill in. */
  slot(): Slot;
  /** Takes the slot, filled in and handed over by the guard. */
  take(slot: Slot): void;
  reject(error: unknown): void;
  /** Stops listening to the caller's AbortSignal, if it gave one. */
  detach?: () => void;
}

/**
 * The resolvers of the promise that `pending()` made last: read them right after the call. One
 * shared executor stores them here, so a waiter's promise costs no executor closure and no
 * context (Node 20 has no `Promise.withResolvers`).
 */
export const resolvers = {
  resolve: undefined as unknown as (value: unknown) => void,
  reject: undefined as unknown as (error: unknown) => void,
};

function capture(resolve: (value: never) => void, reject: (error: unknown) => void): void {
  resolvers.resolve = resolve as (value: unknown) => void;
  resolvers.reject = reject;
}

export function pending<T>(): Promise<T> {
  return new Promise<T>(capture);
}

/**
 * A caller of `acquire`: resumes with the permit it is, once granted (one object per caller,
 * as a queued call of the layer is its own slot).
 */
export class PermitWaiter extends Slot implements Waiter {
  deadline = 0;
  detach: (() => void) | undefined = undefined;
  readonly promise: Promise<BackpressurePermit> = pending();
  private readonly resolve: (permit: BackpressurePermit) => void = resolvers.resolve;
  readonly reject: (error: unknown) => void = resolvers.reject;

  slot(): Slot {
    return this;
  }

  take(): void {
    this.resolve(this);
  }
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
    if (this.live === 0) return undefined;
    this.skipCancelled();
    const waiter = this.items[this.head];
    this.items[this.head++] = undefined;
    if (--this.live === 0) this.clear();
    else this.compact();
    return waiter;
  }

  /** Removes a waiter that gave up (its signal aborted); false when it was no longer queued. */
  remove(waiter: Waiter): boolean {
    const index = this.items.indexOf(waiter, this.head);
    if (index === -1) return false;
    this.items[index] = undefined;
    if (--this.live === 0) this.clear();
    return true;
  }

  private skipCancelled(): void {
    while (this.head < this.items.length && this.items[this.head] === undefined) this.head++;
  }

  /** Nobody waits: what is left are cancelled places. */
  private clear(): void {
    this.items.length = 0;
    this.head = 0;
  }

  private compact(): void {
    if (this.head < 1024 || this.head * 2 < this.items.length) return;
    this.items = this.items.slice(this.head);
    this.head = 0;
  }
}
