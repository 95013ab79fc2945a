/**
 * Settles with `work`, or rejects with the signal's reason as soon as it aborts. Abandoned work
 * keeps its rejection handler, so its later failure is never an unhandled rejection.
 */
export function raceAbort<T>(work: T | PromiseLike<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    const settle = (finish: () => void): void => {
      signal.removeEventListener('abort', onAbort);
      finish();
    };
    Promise.resolve(work).then(
      (value) => settle(() => resolve(value)),
      (error) => settle(() => reject(error)),
    );
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}
