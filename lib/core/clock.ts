/**
 * The source of time for every policy and in-memory store. Injected so that state machines
 * are tested with a fake clock instead of real sleeps.
 *
 * @publicApi
 */
export interface Clock {
  /** Wall-clock epoch milliseconds: comparable across processes, unlike a monotonic reading. */
  now(): number;
  /** Resolves after `ms`; rejects with the signal's reason when `signal` aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /**
   * Monotonic milliseconds with sub-millisecond precision from an arbitrary origin, for measuring
   * durations (pipeline stage timings). Optional: a clock without it measures them with `now()`.
   */
  monotonicNow?(): number;
}

/**
 * The default clock: `Date.now()` and `setTimeout`, so Jest fake timers drive it too, and
 * `performance.now()` for durations.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonicNow: () => performance.now(),
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal!.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  },
};

/**
 * Starts measuring a duration on `clock`; the function returned gives the milliseconds elapsed
 * since, read from `monotonicNow()` when the clock has it (sub-millisecond), else from `now()`.
 */
export function startStopwatch(clock: Clock): () => number {
  const read = () => clock.monotonicNow?.() ?? clock.now();
  const started = read();
  return () => read() - started;
}
