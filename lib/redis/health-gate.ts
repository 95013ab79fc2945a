/** What `HealthGate.enter()` hands out: a normal call, the single recovery probe, or a refusal. */
export type GateTicket = 'call' | 'probe' | 'refused';

export interface HealthGateOptions {
  /** Consecutive failures (errors or timeouts) that switch to degraded mode. */
  readonly failureThreshold: number;
  /** How long degraded mode lasts before one call is let through to test Redis again. */
  readonly cooldownMs: number;
  /** Monotonic milliseconds; injectable for tests. */
  readonly now?: () => number;
}

export interface HealthGateListener {
  degraded(error: unknown, cooldownMs: number): void;
  recovered(degradedForMs: number): void;
}

const monotonicNow = (): number => performance.now();

/**
 * The backend breaker: after `failureThreshold` consecutive failures it refuses every call for
 * `cooldownMs`, so a down or hung Redis costs each guarded call nothing instead of a timeout;
 * then a single probe decides whether to recover. Monotonic time, so client clock jumps and skew
 * do not matter.
 */
export class HealthGate {
  private failures = 0;
  private degradedAt: number | undefined;
  private retryAt = 0;
  private probing = false;
  private readonly now: () => number;

  constructor(
    private readonly options: HealthGateOptions,
    private readonly listener: HealthGateListener,
  ) {
    this.now = options.now ?? monotonicNow;
  }

  get degraded(): boolean {
    return this.degradedAt !== undefined;
  }

  /** True when a call would be sent to Redis now (no probe slot is consumed). */
  get open(): boolean {
    return this.degradedAt === undefined || (!this.probing && this.now() >= this.retryAt);
  }

  enter(): GateTicket {
    if (this.degradedAt === undefined) return 'call';
    if (this.probing || this.now() < this.retryAt) return 'refused';
    this.probing = true;
    return 'probe';
  }

  success(ticket: GateTicket): void {
    // While degraded, only the probe decides: a late answer to an old call proves little.
    if (this.degradedAt !== undefined && ticket !== 'probe') return;
    this.failures = 0;
    if (this.degradedAt === undefined) return;
    const degradedForMs = this.now() - this.degradedAt;
    this.degradedAt = undefined;
    this.probing = false;
    this.listener.recovered(degradedForMs);
  }

  failure(ticket: GateTicket, error: unknown): void {
    if (this.degradedAt !== undefined) {
      if (ticket !== 'probe') return;
      this.probing = false;
      this.retryAt = this.now() + this.options.cooldownMs;
      return;
    }
    this.failures++;
    if (this.failures < this.options.failureThreshold) return;
    this.degrade(error);
  }

  /**
   * A failure that will not pass by itself (a missing permission, a read-only replica):
   * degraded at once, whatever the threshold; while degraded, as `failure`.
   */
  trip(ticket: GateTicket, error: unknown): void {
    if (this.degradedAt !== undefined) return this.failure(ticket, error);
    this.degrade(error);
  }

  private degrade(error: unknown): void {
    this.degradedAt = this.now();
    this.retryAt = this.degradedAt + this.options.cooldownMs;
    this.listener.degraded(error, this.options.cooldownMs);
  }
}
