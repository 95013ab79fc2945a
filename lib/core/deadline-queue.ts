import { systemClock, type Clock } from './clock.js';

/**
 * Something with a deadline in a `DeadlineQueue`. The links live on the entry itself, so adding
 * and removing one allocates nothing and costs O(1).
 */
export abstract class DeadlineEntry {
  /** When the entry expires, in the clock's milliseconds; set by `DeadlineQueue.add`. */
  deadline = 0;
  /** The queue holding the entry, if any. */
  queue: DeadlineQueue | undefined = undefined;
  previous: DeadlineEntry | undefined = undefined;
  following: DeadlineEntry | undefined = undefined;

  /** Called once, from the queue's timer, when the deadline passed and the entry is still in. */
  abstract expire(): void;
}

/**
 * Deadlines of one fixed duration, sharing one timer. Every entry gets `now + ms`, so adding
 * in order keeps the list sorted (a FIFO): the head expires first, and only the head needs a
 * timer. Removing an entry unlinks it and leaves the timer alone; a timer that finds its
 * entry gone re-arms for the new head. Compared with one timer per call, the success path
 * pays a link and an unlink instead of `setTimeout` + `clearTimeout`, and at most one timer
 * fires per `ms` period whatever the throughput.
 *
 * Time and timers: `clock.now()` gives the deadlines. With the system clock the timer is a
 * `setTimeout` looked up when it is armed (so Jest fake timers, installed before or after
 * the queue was built, drive it) and `unref`ed (a pending deadline never keeps a process
 * alive). Any other clock is asked to `sleep`: a fake clock's `advance` fires the deadlines.
 * A clock that steps back does not reorder the list: a new deadline is never set before the
 * one ahead of it (it fires later by the step instead).
 */
export class DeadlineQueue {
  private head: DeadlineEntry | undefined;
  private tail: DeadlineEntry | undefined;
  private armed = false;

  constructor(
    readonly ms: number,
    private readonly clock: Clock = systemClock,
  ) {}

  add(entry: DeadlineEntry): void {
    let deadline = this.clock.now() + this.ms;
    const tail = this.tail;
    if (tail === undefined) this.head = entry;
    else {
      if (deadline < tail.deadline) deadline = tail.deadline;
      tail.following = entry;
    }
    entry.previous = tail;
    entry.following = undefined;
    entry.deadline = deadline;
    entry.queue = this;
    this.tail = entry;
    if (!this.armed) this.arm(deadline);
  }

  /** Takes the entry out; nothing happens if it is not in this queue (expired or removed). */
  remove(entry: DeadlineEntry): void {
    if (entry.queue !== this) return;
    const { previous, following } = entry;
    if (previous === undefined) this.head = following;
    else previous.following = following;
    if (following === undefined) this.tail = previous;
    else following.previous = previous;
    entry.queue = entry.previous = entry.following = undefined;
  }

  /** Moves the entry to the back with a fresh deadline (an idle gap that starts again). */
  renew(entry: DeadlineEntry): void {
    this.remove(entry);
    this.add(entry);
  }

  get size(): number {
    let count = 0;
    for (let entry = this.head; entry !== undefined; entry = entry.following) count++;
    return count;
  }

  private arm(deadline: number): void {
    this.armed = true;
    // At least 1 ms: a timer that fires a little early must not spin.
    const delay = Math.max(1, deadline - this.clock.now());
    if (this.clock === systemClock) setTimeout(this.fire, delay).unref?.();
    else this.clock.sleep(delay).then(this.fire, this.fire);
  }

  private readonly fire = (): void => {
    this.armed = false;
    const now = this.clock.now();
    for (let entry = this.head; entry !== undefined && entry.deadline <= now; entry = this.head) {
      this.remove(entry);
      entry.expire();
    }
    if (this.head !== undefined && !this.armed) this.arm(this.head.deadline);
  };
}
