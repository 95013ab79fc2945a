/** What the parent sends a soak worker at start-up (the worker's `init`). */
export interface SoakSettings {
  port: number;
  keyPrefix: string;
  workers: number;
  capacity: number;
  leaseMs: number;
  maxWaitMs: number;
  operationTimeoutMs: number;
  degradedCooldownMs: number;
  backpressureCallers: number;
  dedupeCallers: number;
  /** How long a backpressure call holds its slot, [min, max] ms. */
  holdMs: [number, number];
  /** How long one deduped execution runs, [min, max] ms. */
  workMs: [number, number];
  pauseBetweenCallsMs: [number, number];
  /** Dedupe keys are named after a window of this length... */
  keyWindowMs: number;
  /** ...and there are this many per window. */
  keysPerWindow: number;
  /** Longer than a key's window, so a key's result is cached for as long as it is asked for. */
  dedupeTtlMs: number;
  heapSampleMs: number;
}

/** Fire-and-forget messages from a worker (`{ type: 'soak', ...message }`). */
export type WorkerMessage =
  | { kind: 'call-start'; id: string; call: 'bp' | 'dd' }
  | { kind: 'call-end'; id: string; outcome: string }
  | { kind: 'heap'; heapUsed: number }
  /**
   * The worker's event loop did not run for `ms` beyond its watch's tick: it was last seen
   * running at `from` and ran again at `to` (both `epochNow()` times).
   */
  | { kind: 'stall'; ms: number; from: number; to: number }
  /** A store event (`redis.degraded`...) the worker saw at `at` (an `epochNow()` time). */
  | { kind: 'store-event'; event: string; at: number };

/** Acknowledged reports: the worker waits until the parent has counted them. */
export type WorkerReport =
  /**
   * A backpressure call holds slot `slot` (its call's id) since `at`, asked for at `askedAt`
   * (`epochNow()` times).
   */
  | { type: 'enter'; slot: string; at: number; askedAt: number }
  | { type: 'exit'; slot: string }
  | { type: 'exec-start'; key: string }
  | { type: 'exec-end'; key: string };

/**
 * `now` (a `performance.now()` time) as one every process on the machine agrees on (ms since
 * the epoch, sub-ms precision), for times a worker reports: its `performance.now()` has another
 * origin than the parent's.
 */
export const toEpoch = (now: number): number => performance.timeOrigin + now;

export const epochNow = (): number => toEpoch(performance.now());

/** An `epochNow()` time on this process's `performance.now()` clock. */
export const fromEpoch = (epoch: number): number => epoch - performance.timeOrigin;
