/**
 * The backpressure cap as the soak's parent sees it: every slot a worker reported entering and
 * not yet leaving, against the bound of the moment. Pure (times are given), so the
 * classification below is unit-tested without Redis.
 *
 * A holder whose event loop stands still cannot renew its lease; once the lease lapses Redis
 * grants its slot again while the holder's call still runs, so the fleet holds one slot more
 * than the cap. The same goes for a slot granted while its worker stood still, whose grant the
 * worker reads only once it runs again. docs/redis.md allows that (a holder paused past its
 * lease loses its slot), and only that: an excess counts as "lease lost to a stall" when, for
 * every slot over the bound, a slot held at that moment belongs to a worker that reported a
 * stall long enough to lose its lease, while it held or asked for that slot, and that had lasted
 * long enough by then. Any other excess is a violation.
 */

/** One slot in flight, from its holder's `enter` report to its `exit`. */
export interface HeldSlot {
  readonly worker: number;
  readonly id: string;
  readonly enteredAt: number;
  /** When its worker asked for it: its lease began between this and `enteredAt`. */
  readonly askedAt: number;
  /** Reported left, or its worker was killed: nothing more will be learnt about it. */
  done: boolean;
  /** From when its lease may have lapsed, because its worker stood still (see `stalled`). */
  leaseLostFrom?: number;
  /** The stall that may have cost it its lease, in ms. */
  stallMs?: number;
}

/** The bound on calls in flight at a moment, and the phase that moment belongs to. */
export interface Bound {
  cap: number;
  phase: string;
  /** What a violation's detail says of the moment (the latest fault...). */
  context?: string;
}

/** A moment over the bound, decided once every slot held then is done. */
interface Excess {
  at: number;
  inFlight: number;
  bound: Bound;
  holders: HeldSlot[];
}

/** An excess explained by leases lost to stalls, with the figures the summary prints. */
export interface LeaseLostToStall {
  at: number;
  inFlight: number;
  cap: number;
  phase: string;
  /** The slots whose lease may have lapsed: their worker and its stall. */
  lost: { worker: number; stallMs: number }[];
}

/** A worker's event loop stood still from `from` to `to` (`ms` long). */
export interface Stall {
  worker: number;
  from: number;
  to: number;
  ms: number;
}

export type ReportViolation = (at: number, invariant: string, detail: string) => void;

export class CapCheck {
  readonly maxInFlight = new Map<string, number>();
  readonly leaseLosses: LeaseLostToStall[] = [];
  /** Stalls long enough to lose a lease (a slot's, or a dedupe claim's). */
  readonly leaseLosingStalls: Stall[] = [];
  private readonly held = new Map<number, Map<string, HeldSlot>>();
  private inFlight = 0;
  private pending: Excess[] = [];

  /**
   * @param leaseMs the slots' lease; a live holder renews it every `leaseMs / 3`, so the lease
   *   had at least `leaseMs - leaseMs / 3` left when its holder's loop last ran
   * @param boundAt the bound at a moment (the cap, or a looser one while a fault lasts)
   */
  constructor(
    private readonly leaseMs: number,
    private readonly boundAt: (at: number) => Bound,
    private readonly violate: ReportViolation,
  ) {}

  /** The shortest stall that can cost a lease: the lease less one renewal interval. */
  get leaseLosingStallMs(): number {
    return this.leaseMs - this.leaseMs / 3;
  }

  get slotsInFlight(): number {
    return this.inFlight;
  }

  /**
   * `worker` reported holding slot `id` since `at` (when its grant was reported), asked for at
   * `askedAt`. A stall it reported before (workers report one before anything else) may have
   * cost the lease already, if the slot was granted while the worker stood still.
   */
  enter(worker: number, id: string, at: number, askedAt = at): void {
    const slot: HeldSlot = { worker, id, enteredAt: at, askedAt, done: false };
    for (const stall of this.leaseLosingStalls)
      if (stall.worker === worker) this.markGrantedDuring(slot, stall);
    this.slotsOf(worker).set(id, slot);
    this.inFlight++;
    const bound = this.boundAt(at);
    const { phase, cap } = bound;
    this.maxInFlight.set(phase, Math.max(this.maxInFlight.get(phase) ?? 0, this.inFlight));
    if (this.inFlight > cap)
      this.pending.push({ at, inFlight: this.inFlight, bound, holders: this.heldNow() });
  }

  exit(worker: number, id: string): void {
    const slot = this.held.get(worker)?.get(id);
    if (slot === undefined) return;
    this.held.get(worker)!.delete(id);
    slot.done = true;
    this.inFlight--;
  }

  /**
   * `worker`'s event loop was last seen running at `from` and ran again at `to`. A stall long
   * enough to lose a lease marks the slots it holds (see `mark`). Workers report a stall before
   * any later report, so the slots held are the ones it held while it stood still.
   */
  stalled(worker: number, from: number, to: number): void {
    const ms = to - from;
    if (ms <= this.leaseLosingStallMs) return;
    const stall = { worker, from, to, ms: Math.round(ms) };
    this.leaseLosingStalls.push(stall);
    // Renewed at most a renewal interval before the loop stopped: at least that long to run.
    for (const slot of this.held.get(worker)?.values() ?? [])
      this.mayLapseFrom(slot, from + this.leaseLosingStallMs, stall);
  }

  /**
   * A slot entered after its worker's stall may have been granted before the stall ended (the
   * reply read only once the loop ran again): granted after it was asked for, never renewed
   * until the loop ran, its lease lapsed at the earliest a whole lease after `askedAt`, and
   * only if the stall lasted long enough past the request (the first renewal comes within a
   * renewal interval of the loop running again).
   */
  private markGrantedDuring(slot: HeldSlot, stall: Stall): void {
    if (stall.to - slot.askedAt <= this.leaseLosingStallMs) return;
    this.mayLapseFrom(slot, slot.askedAt + this.leaseMs, stall);
  }

  private mayLapseFrom(slot: HeldSlot, lapsesFrom: number, stall: Stall): void {
    if (slot.leaseLostFrom !== undefined && slot.leaseLostFrom <= lapsesFrom) return;
    slot.leaseLostFrom = lapsesFrom;
    slot.stallMs = stall.ms;
  }

  /** A SIGKILLed worker's slots stop running (its leases stay in Redis until they lapse). */
  workerKilled(worker: number): void {
    for (const id of [...(this.held.get(worker)?.keys() ?? [])]) this.exit(worker, id);
    this.held.delete(worker);
  }

  /**
   * Decides every excess whose slots are all done (their stalls, reported before their exit,
   * are known), or every one when `all` (the end: what was not reported never will be).
   */
  decide(all = false): void {
    const ready = this.pending.filter((e) => all || e.holders.every((slot) => slot.done));
    if (ready.length === 0) return;
    this.pending = this.pending.filter((e) => !ready.includes(e));
    for (const excess of ready) this.classify(excess);
  }

  private classify({ at, inFlight, bound, holders }: Excess): void {
    const lost = holders.filter((s) => s.leaseLostFrom !== undefined && s.leaseLostFrom <= at);
    if (inFlight - bound.cap <= lost.length) {
      const { cap, phase } = bound;
      this.leaseLosses.push({
        at,
        inFlight,
        cap,
        phase,
        lost: lost.map((s) => ({ worker: s.worker, stallMs: s.stallMs! })),
      });
      return;
    }
    const stalls = lost.map((s) => `w${s.worker} stalled ${s.stallMs} ms`).join(', ');
    this.violate(
      at,
      'backpressure cap',
      `${inFlight} calls in flight > ${bound.cap} (phase ${bound.phase}; by worker ${describe(holders)}; ` +
        `leases lost to a stall: ${lost.length}${stalls === '' ? '' : ` (${stalls})`}` +
        `${bound.context === undefined ? '' : `; ${bound.context}`})`,
    );
  }

  private heldNow(): HeldSlot[] {
    return [...this.held.values()].flatMap((slots) => [...slots.values()]);
  }

  private slotsOf(worker: number): Map<string, HeldSlot> {
    let slots = this.held.get(worker);
    if (slots === undefined) this.held.set(worker, (slots = new Map()));
    return slots;
  }
}

/** "w0: 3, w2: 5": slots held per worker. */
function describe(holders: HeldSlot[]): string {
  const counts = new Map<number, number>();
  for (const { worker } of holders) counts.set(worker, (counts.get(worker) ?? 0) + 1);
  return [...counts].map(([worker, n]) => `w${worker}: ${n}`).join(', ');
}
