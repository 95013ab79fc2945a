/** A value a store may answer synchronously (in-memory) or asynchronously (Redis). */
export type MaybePromise<T> = T | Promise<T>;

export function isPromiseLike<T = unknown>(value: unknown): value is PromiseLike<T> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as PromiseLike<T>).then === 'function'
  );
}
