import type { CircuitConfig, CircuitOpenReason } from './circuit-breaker.store.js';

/** What a window holds: its calls, and how many of them failed or were slow. */
export interface WindowStats {
  readonly calls: number;
  readonly failures: number;
  readonly slow: number;
}

/** The recent outcomes of a closed circuit, in bounded memory. */
export interface OutcomeWindow {
  add(failure: boolean, slow: boolean, now: number): void;
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
  if (stats.calls === 0 || stats.calls < (config.minimumCalls ?? DEFAULT_MINIMUM_CALLS)) {
    return undefined;
  }
  const { failureRateThreshold, slowCallRateThreshold } = config;
  if (failureRateThreshold !== undefined && stats.failures / stats.calls >= failureRateThreshold) {
    return 'failure-rate';
  }
  if (slowCallRateThreshold !== undefined && stats.slow / stats.calls >= slowCallRateThreshold) {
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

  add(failure: boolean, slow: boolean): void {
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
    this.next = (this.next + 1) % this.size;
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
 * whatever the call rate.
 */
class TimeWindow implements OutcomeWindow {
  private readonly width: number;
  private readonly bucketOf = new Float64Array(TIME_BUCKETS).fill(-Infinity);
  private readonly calls = new Uint32Array(TIME_BUCKETS);
  private readonly failures = new Uint32Array(TIME_BUCKETS);
  private readonly slow = new Uint32Array(TIME_BUCKETS);

  constructor(readonly windowMs: number) {
    this.width = windowMs / TIME_BUCKETS;
  }

  add(failure: boolean, slow: boolean, now: number): void {
    const bucket = Math.floor(now / this.width);
    const slot = ((bucket % TIME_BUCKETS) + TIME_BUCKETS) % TIME_BUCKETS;
    if (this.bucketOf[slot] !== bucket) {
      this.bucketOf[slot] = bucket;
      this.calls[slot] = this.failures[slot] = this.slow[slot] = 0;
    }
    this.calls[slot]++;
    if (failure) this.failures[slot]++;
    if (slow) this.slow[slot]++;
  }

  stats(now: number): WindowStats {
    const current = Math.floor(now / this.width);
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

  reset(): void {
    this.bucketOf.fill(-Infinity);
  }
}
