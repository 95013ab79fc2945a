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
export class RenewalsInFlight {
  private readonly inFlight = new Map<string, { count: number; endedFirst: boolean }>();

  started(token: string): void {
    const entry = this.inFlight.get(token);
    if (entry === undefined) this.inFlight.set(token, { count: 1, endedFirst: false });
    else entry.count++;
  }

  /** A write that ends the lease `token` was answered. */
  ended(token: string): void {
    const entry = this.inFlight.get(token);
    if (entry !== undefined) entry.endedFirst = true;
  }

  /** A renewal of `token` settled: true when its lease was ended (and answered) before. */
  settled(token: string): boolean {
    const entry = this.inFlight.get(token);
    if (entry === undefined) return false;
    if (--entry.count === 0) this.inFlight.delete(token);
    return entry.endedFirst;
  }
}
