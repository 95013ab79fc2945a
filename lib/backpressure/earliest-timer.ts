import type { Clock } from '../core/clock.js';

/**
 * One timer for the earliest of several moments (a queue's next deadline or poll): scheduling
 * a later moment than the one set changes nothing, an earlier one replaces it.
 */
export class EarliestTimer {
  private timer: { at: number; stop: AbortController } | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly fire: () => void,
  ) {}

  schedule(at: number, now: number): void {
    if (this.timer !== undefined && this.timer.at <= at) return;
    this.stop();
    const stop = new AbortController();
    this.timer = { at, stop };
    this.clock.sleep(Math.max(0, at - now), stop.signal).then(
      () => {
        if (this.timer?.stop !== stop) return;
        this.timer = undefined;
        this.fire();
      },
      () => undefined,
    );
  }

  stop(): void {
    this.timer?.stop.abort();
    this.timer = undefined;
  }
}
