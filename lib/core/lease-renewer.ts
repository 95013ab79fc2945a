import { isPromiseLike, type MaybePromise } from './maybe-promise.js';

/** A lease kept alive until `end()` is called. */
export interface HeldLease {
  end(): void;
}

/**
 * A lease a `LeaseRenewer` renews until `end()`. A primitive may extend it with its own state
 * (a dedupe claim), so holding a lease allocates nothing more. The links make the renewer's
 * set an intrusive list: adding and removing cost a few writes, with no hash table to grow or
 * shrink as leases come and go.
 */
export abstract class RenewedLease implements HeldLease {
  /** @internal The renewer holding it; undefined once ended or lost. */
  renewer: LeaseRenewer | undefined = undefined;
  /** @internal */
  prev: RenewedLease | undefined = undefined;
  /** @internal */
  next: RenewedLease | undefined = undefined;

  /** Extends the lease in its store; false when it is gone (it lapsed). */
  abstract renew(): MaybePromise<boolean>;

  end(): void {
    this.renewer?.drop(this);
  }
}

/** A lease renewed by a callback, for holders with nothing else to keep. */
class CallbackLease extends RenewedLease {
  constructor(private readonly renewWith: () => MaybePromise<boolean>) {
    super();
  }

  renew(): MaybePromise<boolean> {
    return this.renewWith();
  }
}

/**
 * Keeps store leases (dedupe claims, backpressure slots) alive while their work runs, so a
 * crashed process's leases lapse and a live one's never do. One unref'd interval per primitive,
 * running only while it holds a lease, renews them all every third of the lease: no timer per
 * call, and nothing keeps the process alive.
 */
export class LeaseRenewer {
  private head: RenewedLease | undefined;
  private tail: RenewedLease | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly leaseMs: number,
    /** Told when a renewal fails or finds the lease gone; never throws into a timer. */
    private readonly onFailure: (error: unknown) => void,
  ) {}

  /** Renews with `renew` (false: the lease is gone) until the returned lease ends. */
  hold(renew: () => MaybePromise<boolean>): HeldLease {
    const lease = new CallbackLease(renew);
    this.add(lease);
    return lease;
  }

  /** Renews `lease` until it ends. A lease is held by one renewer at a time. */
  add(lease: RenewedLease): void {
    lease.renewer = this;
    lease.prev = this.tail;
    lease.next = undefined;
    if (this.tail === undefined) this.head = lease;
    else this.tail.next = lease;
    this.tail = lease;
    this.timer ??= this.start();
  }

  /** @internal */
  drop(lease: RenewedLease): void {
    // The interval stops at its next tick, not here: a slot handed straight to the next holder
    // drops one lease and holds another, and restarting the interval at each hand-over would
    // postpone every renewal until the lease lapsed.
    if (lease.renewer !== this) return;
    const { prev, next } = lease;
    if (prev === undefined) this.head = next;
    else prev.next = next;
    if (next === undefined) this.tail = prev;
    else next.prev = prev;
    lease.renewer = lease.prev = lease.next = undefined;
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private start(): ReturnType<typeof setInterval> {
    const timer = setInterval(() => this.renewAll(), Math.max(1, Math.floor(this.leaseMs / 3)));
    timer.unref?.();
    return timer;
  }

  private renewAll(): void {
    if (this.head === undefined) return this.stop();
    // A renewal may end its own lease (a synchronous store found it gone), which unlinks it:
    // its successor is then the one read before. A lease added meanwhile is appended, and
    // renewed in this pass too.
    let lease: RenewedLease | undefined = this.head;
    while (lease !== undefined) {
      const next: RenewedLease | undefined = lease.next;
      this.renewOne(lease);
      lease = lease.renewer === this ? lease.next : next;
    }
  }

  private renewOne(lease: RenewedLease): void {
    try {
      const renewed = lease.renew();
      if (isPromiseLike<boolean>(renewed)) {
        renewed.then(
          (held) => this.check(lease, held),
          (error) => this.onFailure(error),
        );
      } else {
        this.check(lease, renewed);
      }
    } catch (error) {
      this.onFailure(error);
    }
  }

  private check(lease: RenewedLease, held: boolean): void {
    if (held || lease.renewer !== this) return;
    this.drop(lease);
    this.onFailure(new Error(`lease lost: not renewed within ${this.leaseMs} ms`));
  }
}
