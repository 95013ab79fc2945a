/** @internal The lease a renewal extends, named in the `redis.lease-lost` event it may cause. */
export interface RenewedLeaseRef {
  readonly primitive: 'dedupe' | 'backpressure';
  readonly name: string;
  readonly token: string;
}

/**
 * Renewals in flight, by lease token, and whether the write that ends the same lease (a release,
 * a completion) was answered while one was in flight.
 *
 * A renewal is sent before its holder's release, but ioredis can make it land after: a renewal
 * answered NOSCRIPT (after a restart, a failover or SCRIPT FLUSH) is resent as EVAL once that
 * answer arrives, while the release sent just behind it runs at once (its script loaded again by
 * an earlier call); a Cluster redirection resends a command on its own schedule too. The renewal
 * then finds the lease its holder just ended, which is no lost lease. Replies on one connection
 * come in the order Redis ran the commands, so a release answered before the renewal ran before
 * it; a renewal answered first that finds its lease gone did lose it (a holder paused past its
 * lease, on resuming, sends both at once and is still reported). What this cannot tell: a lease
 * that had lapsed before its release overtook the renewal; that one goes unreported.
 */
export class LeaseRenewals {
  private readonly inFlight = new Map<string, { count: number; endedFirst: boolean }>();

  /**
   * Runs a renewal (`sent` answers 1 when the lease was extended): true when extended; false
   * when the lease is gone, and then `lost()` unless its holder had ended it first.
   */
  renew(sent: () => Promise<unknown>, token: string, lost: () => void): Promise<boolean> {
    this.started(token);
    return sent().then(
      (reply) => {
        const endedFirst = this.settled(token);
        if (reply === 1) return true;
        if (!endedFirst) lost();
        return false;
      },
      (error: unknown) => {
        this.settled(token);
        throw error;
      },
    );
  }

  /** `answered` is a write that ends the lease `token`: noted once Redis answers it. */
  ending<T>(answered: Promise<T>, token: string): Promise<T> {
    return answered.then((reply) => {
      const entry = this.inFlight.get(token);
      if (entry !== undefined) entry.endedFirst = true;
      return reply;
    });
  }

  private started(token: string): void {
    const entry = this.inFlight.get(token);
    if (entry === undefined) this.inFlight.set(token, { count: 1, endedFirst: false });
    else entry.count++;
  }

  /** A renewal of `token` settled: true when its lease was ended (and answered) before. */
  private settled(token: string): boolean {
    const entry = this.inFlight.get(token);
    if (entry === undefined) return false;
    if (--entry.count === 0) this.inFlight.delete(token);
    return entry.endedFirst;
  }
}
