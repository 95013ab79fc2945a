/**
 * Event-loop stalls as a short interval timer sees them: a tick that runs later than due means
 * the loop (or the whole process, descheduled) was held up for that long. On a 2-core machine
 * shared by several busy processes a Jest worker is held up for hundreds of ms at a time, and
 * every timer and reply in that span is late by as much. A duration bound can then allow the
 * stalls measured within the span instead of a fixed slack guessed for the worst machine.
 */
export class LoopStalls {
  private readonly stalls: Array<{ from: number; to: number }> = [];
  private lastTick: number;
  private readonly timer: ReturnType<typeof setInterval>;

  /**
   * @param intervalMs how often to tick
   * @param graceMs lateness not counted: timers are due to the millisecond and may run 1 ms late
   * @param now the clock the spans passed to within() are read from
   */
  constructor(
    private readonly intervalMs = 10,
    private readonly graceMs = 1,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.lastTick = now();
    this.timer = setInterval(() => this.tick(), intervalMs);
    this.timer.unref();
  }

  /** Milliseconds of stalls that overlap [from, to]. */
  within(from: number, to: number): number {
    let total = 0;
    for (const stall of this.stalls) {
      total += Math.max(0, Math.min(stall.to, to) - Math.max(stall.from, from));
    }
    return total;
  }

  longest(): number {
    return Math.max(0, ...this.stalls.map((stall) => stall.to - stall.from));
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    const now = this.now();
    // Node schedules the next tick `intervalMs` after this one ran, so lateness never adds up.
    const late = now - this.lastTick - this.intervalMs;
    if (late > this.graceMs) this.stalls.push({ from: now - late, to: now });
    this.lastTick = now;
  }
}
