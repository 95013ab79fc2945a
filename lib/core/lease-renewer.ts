import { isPromiseLike, type MaybePromise } from './maybe-promise.js';

/** A lease kept alive until `end()` is called. */
export interface HeldLease {
  end(): void;
}

/**
 * Keeps store leases (dedupe claims, backpressure slots) alive while their work runs, so a
 * crashed process's leases lapse and a live one's never do. One unref'd interval per primitive,
 * running only while it holds a lease, renews them all every third of the lease: no timer per
 * call, and nothing keeps the process alive.
 */
export class LeaseRenewer {
  private readonly leases = new Set<Lease>();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly leaseMs: number,
    /** Told when a renewal fails or finds the lease gone; never throws into a timer. */
    private readonly onFailure: (error: unknown) => void,
  ) {}

  /** Renews with `renew` (false: the lease is gone) until the returned lease ends. */
  hold(renew: () => MaybePromise<boolean>): HeldLease {
    const lease = new Lease(this, renew);
    this.leases.add(lease);
    this.timer ??= this.start();
    return lease;
  }

  /** @internal */
  drop(lease: Lease): void {
    // The interval stops at its next tick, not here: a slot handed straight to the next holder
    // drops one lease and holds another, and restarting the interval at each hand-over would
    // postpone every renewal until the lease lapsed.
    this.leases.delete(lease);
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
    if (this.leases.size === 0) return this.stop();
    for (const lease of this.leases) {
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
  }

  private check(lease: Lease, held: boolean): void {
    if (held || !this.leases.has(lease)) return;
    this.drop(lease);
    this.onFailure(new Error(`lease lost: not renewed within ${this.leaseMs} ms`));
  }
}

class Lease implements HeldLease {
  constructor(
    private readonly renewer: LeaseRenewer,
    readonly renew: () => MaybePromise<boolean>,
  ) {}

  end(): void {
    this.renewer.drop(this);
  }
}
