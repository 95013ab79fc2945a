/**
 * A held slot. `release()` frees it; calling it again does nothing.
 *
 * @publicApi
 */
export interface BackpressurePermit {
  release(): void;
}
