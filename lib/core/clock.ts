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
}

/** The default clock: `Date.now()` and `setTimeout`, so Jest fake timers drive it too. */
export const systemClock: Clock = {
  now: () => Date.now(),
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
