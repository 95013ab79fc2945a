import type { Call, Step } from '../core/layer.js';
import { Slot, type SlotOwner } from './slot.js';
import { pending, resolvers, type Waiter } from './waiter-queue.js';

/**
 * A call of the layer asking for a slot, and then the slot it holds. It runs as soon as it is
 * given its slot, at once or inside the release that freed one: no permit promise to resolve
 * and no continuation to schedule, so a call costs one promise (its caller's) and one object
 * over the call's own.
 */
export class QueuedCall extends Slot implements Waiter {
  deadline = 0;
  detach: (() => void) | undefined = undefined;
  readonly promise: Promise<unknown> = pending();
  private readonly resolve: (value: unknown) => void = resolvers.resolve;
  readonly reject: (error: unknown) => void = resolvers.reject;

  constructor(
    owner: SlotOwner,
    private readonly next: Step,
    private readonly call: Call,
  ) {
    super(owner);
  }

  slot(): Slot {
    return this;
  }

  take(): void {
    let result: Promise<unknown>;
    try {
      result = this.next.promise(this.call);
    } catch (error) {
      // Released a tick later, not here: a release hands the slot to the next waiter, whose
      // call could throw too, and so on down the queue on one stack.
      result = Promise.reject(error);
    }
    result.then(
      (value) => {
        this.release();
        this.resolve(value);
      },
      (error) => {
        this.release();
        this.reject(error);
      },
    );
  }
}
