import type { Clock } from '../core/clock.js';
import type { CircuitConfig, CircuitOpenReason } from './circuit-breaker.store.js';

/** What a window holds: its calls, and how many of them failed or were slow. */
export interface WindowStats {
  readonly calls: number;
  readonly failures: number;
  readonly slow: number;
}

/** The recent outcomes of a closed circuit, in bounded memory. */
export interface OutcomeWindow {
  /**
   * Adds one outcome and says why the window now opens the circuit, if it does: the hot path of
   * a closed circuit, so it allocates nothing, and only a time window reads the clock (a read
   * costs about as much as the rest of the call).
   */
  record(
    failure: boolean,
    slow: boolean,
    config: CircuitConfig,
    clock: Clock,
  ): CircuitOpenReason | undefined;
  stats(now: number): WindowStats;
  reset(): void;
}

/** A time window is this many buckets of `windowMs / TIME_BUCKETS` each. */
export const TIME_BUCKETS = 10;
const DEFAULT_MINIMUM_CALLS = 10;
const DEFAULT_WINDOW_SIZE = 20;
const FAILURE = 1;
const SLOW = 2;

/** Whether the breaker opens on window rates (else on consecutive failures). */
export function usesRates(config: CircuitConfig): boolean {
  return config.failureRateThreshold !== undefined || config.slowCallRateThreshold !== undefined;
}

export function createWindow(config: CircuitConfig): OutcomeWindow {
  return config.windowMs !== undefined
    ? new TimeWindow(config.windowMs)
    : new CountWindow(config.windowSize ?? DEFAULT_WINDOW_SIZE);
}

/** Whether a window built for `config` still fits it (the options of a circuit may change). */
export function windowFits(window: OutcomeWindow, config: CircuitConfig): boolean {
  if (config.windowMs !== undefined) {
    return window instanceof TimeWindow && window.windowMs === config.windowMs;
  }
  const size = config.windowSize ?? DEFAULT_WINDOW_SIZE;
  return window instanceof CountWindow && window.size === size;
}

/** A call is slow when it took longer than `slowCallMs`. */
export function isSlow(config: CircuitConfig, durationMs: number | undefined): boolean {
  return config.slowCallMs !== undefined && (durationMs ?? 0) > config.slowCallMs;
}

/** Why the window opens the circuit, if it does: it holds `minimumCalls` and a rate is reached. */
export function windowReason(
  stats: WindowStats,
  config: CircuitConfig,
): CircuitOpenReason | undefined {
  return reasonOf(stats.calls, stats.failures, stats.slow, config);
}

/** `windowReason` on the counts themselves, so the hot path builds no stats object. */
function reasonOf(
  calls: number,
  failures: number,
  slow: number,
  config: CircuitConfig,
): CircuitOpenReason | undefined {
  if (calls === 0 || calls < (config.minimumCalls ?? DEFAULT_MINIMUM_CALLS)) return undefined;
  const { failureRateThreshold, slowCallRateThreshold } = config;
  if (failureRateThreshold !== undefined && failures / calls >= failureRateThreshold) {
    return 'failure-rate';
  }
  if (slowCallRateThreshold !== undefined && slow / calls >= slowCallRateThreshold) {
    return 'slow-call-rate';
  }
  return undefined;
}

/** The last `size` calls, in a ring of one byte each. */
class CountWindow implements OutcomeWindow {
  private readonly ring: Uint8Array;
  private next = 0;
  private calls = 0;
  private failures = 0;
  private slow = 0;

  constructor(readonly size: number) {
    this.ring = new Uint8Array(size);
  }

  record(failure: boolean, slow: boolean, config: CircuitConfig): CircuitOpenReason | undefined {
    this.add(failure, slow);
    return reasonOf(this.calls, this.failures, this.slow, config);
  }

  private add(failure: boolean, slow: boolean): void {
    if (this.calls === this.size) {
      const evicted = this.ring[this.next];
      if (evicted & FAILURE) this.failures--;
      if (evicted & SLOW) this.slow--;
    } else {
      this.calls++;
    }
    this.ring[this.next] = (failure ? FAILURE : 0) | (slow ? SLOW : 0);
    if (failure) this.failures++;
    if (slow) this.slow++;
    if (++this.next === this.size) this.next = 0;
  }

  stats(): WindowStats {
    return { calls: this.calls, failures: this.failures, slow: this.slow };
  }

  reset(): void {
    this.next = this.calls = this.failures = this.slow = 0;
  }
}

/**
 * The calls of the last `windowMs`, in `TIME_BUCKETS` buckets: a call at time t falls in bucket
 * floor(t / width), and the window at `now` holds the buckets after floor(now / width) -
 * TIME_BUCKETS, so it reaches between `windowMs - width` and `windowMs` back. Memory is fixed
 * whatever the call rate. `record` keeps the totals of the window as of the newest bucket it
 * saw, and sums the buckets again only when a call falls in another bucket (once per `width`
 * at most while time moves forward), so a call costs O(1).
 */
class TimeWindow implements OutcomeWindow {
  private readonly width: number;
  private readonly bucketOf = new Float64Array(TIME_BUCKETS).fill(-Infinity);
  private readonly calls = new Uint32Array(TIME_BUCKETS);
  private readonly failures = new Uint32Array(TIME_BUCKETS);
  private readonly slow = new Uint32Array(TIME_BUCKETS);
  /** The bucket of the last recorded call (NaN after a reset), its slot, and the totals then. */
  private latest = NaN;
  private latestSlot = 0;
  private totalCalls = 0;
  private totalFailures = 0;
  private totalSlow = 0;

  constructor(readonly windowMs: number) {
    this.width = windowMs / TIME_BUCKETS;
  }

  record(
    failure: boolean,
    slow: boolean,
    config: CircuitConfig,
    clock: Clock,
  ): CircuitOpenReason | undefined {
    const bucket = Math.floor(clock.now() / this.width);
    if (bucket !== this.latest) this.moveTo(bucket);
    const slot = this.latestSlot;
    this.calls[slot]++;
    this.totalCalls++;
    if (failure) {
      this.failures[slot]++;
      this.totalFailures++;
    }
    if (slow) {
      this.slow[slot]++;
      this.totalSlow++;
    }
    return reasonOf(this.totalCalls, this.totalFailures, this.totalSlow, config);
  }

  stats(now: number): WindowStats {
    return this.sum(Math.floor(now / this.width));
  }

  reset(): void {
    this.bucketOf.fill(-Infinity);
    this.latest = NaN;
  }

  /** A call in another bucket than the last one: claims its slot, then sums the window again. */
  private moveTo(bucket: number): void {
    const slot = ((bucket % TIME_BUCKETS) + TIME_BUCKETS) % TIME_BUCKETS;
    if (this.bucketOf[slot] !== bucket) {
      this.bucketOf[slot] = bucket;
      this.calls[slot] = this.failures[slot] = this.slow[slot] = 0;
    }
    this.latest = bucket;
    this.latestSlot = slot;
    const { calls, failures, slow } = this.sum(bucket);
    this.totalCalls = calls;
    this.totalFailures = failures;
    this.totalSlow = slow;
  }

  /** The buckets of the window whose newest bucket is `current`. */
  private sum(current: number): WindowStats {
    let calls = 0;
    let failures = 0;
    let slow = 0;
    for (let slot = 0; slot < TIME_BUCKETS; slot++) {
      const bucket = this.bucketOf[slot];
      if (bucket <= current - TIME_BUCKETS || bucket > current) continue;
      calls += this.calls[slot];
      failures += this.failures[slot];
      slow += this.slow[slot];
    }
    return { calls, failures, slow };
  }
}
