/** The plan of the Redis part; the report quotes these numbers. */
export const PROCESSES = 4;
/** Concurrent callers per process, each awaiting its call before the next. */
export const CALLERS = 50;
/** Sequential calls per path for the round-trip count. */
export const SEQUENTIAL_CALLS = 2_000;
/** Timed windows per path and fleet size, interleaved with the redis-benchmark runs. */
export const ROUNDS = 5;
/** Calls before a window that do not count (connections, JIT, pools warm). */
export const WARM_MS = 150;
export const WINDOW_MS = 500;
/** Requests of one redis-benchmark run. */
export const BENCHMARK_REQUESTS = 30_000;
/** Connections of redis-benchmark, as the issue asks (`-c 50`). */
export const BENCHMARK_CLIENTS = 50;

export interface LoadSummary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** Round trips per call over every call of every window (warm-up included). */
  readonly roundTrips: number;
  readonly incidents: number;
  /** redis-server's CPU time over wall time while the fleet ran (1 = one core), median. */
  readonly redisCpu: number;
  /** CPU time of the bench processes per call (warm-up included), in µs. */
  readonly clientMicros: number;
  /** CPU time of redis-server per call (warm-up included), in µs. */
  readonly redisMicros: number;
}
