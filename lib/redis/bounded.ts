import { withoutStack } from '../core/orchestrator.error.js';

export const noop = (): void => undefined;

/**
 * Settles within `ms`, whatever the client's own timeouts are: a hung Redis (paused,
 * partitioned) would otherwise leave a command pending forever. `onTimeout` runs when the bound
 * wins, before the rejection.
 */
export function bounded<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
  onTimeout: () => void = noop,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      onTimeout();
      promise.catch(noop);
      reject(withoutStack(() => new Error(`Redis did not answer ${what} within ${ms} ms`)));
    }, ms);
    timer.unref?.();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
