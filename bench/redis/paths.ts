/** One guarded call; `caller` and `seq` pick a dedupe key. */
export type GuardedCall = (caller: number, seq: number) => Promise<unknown>;

/** The window breaker paths of issue 17 (bench/redis/windows.ts). */
export type WindowPathId = 'window-count' | 'window-time' | 'memory-count' | 'memory-time';

export type PathId = 'closed' | 'open' | 'owner' | 'hit' | 'cap' | 'floor' | WindowPathId;

/** The main path of a primitive that the bench measures. */
export interface PathSpec {
  readonly id: PathId;
  readonly label: string;
  /** Whether a call must resolve with 42 or reject with `CircuitOpenError`. */
  readonly expect: 'value' | 'open';
  /** Timed under load too; a rejection from the open state's cache never reaches Redis. */
  readonly load: boolean;
}
