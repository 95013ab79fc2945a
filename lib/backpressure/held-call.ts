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
    started(this.next, this.call).then(
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

/** Runs `next` holding `slot`, granted at once, and frees the slot when the call settles. */
export function runHolding(slot: Slot, next: Step, call: Call): Promise<unknown> {
  return started(next, call).then(
    (value) => {
      slot.release();
      return value;
    },
    (error: unknown) => {
      slot.release();
      throw error;
    },
  );
}

/**
 * The call's promise, even when `next` throws: the slot is then released a tick later, not
 * within this call, since a release hands the slot to the next waiter, whose call could throw
 * too, and so on down the queue on one stack.
 */
function started(next: Step, call: Call): Promise<unknown> {
  try {
    return next.promise(call);
  } catch (error) {
    return Promise.reject(error);
  }
}
