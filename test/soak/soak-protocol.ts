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
  /** The worker's event loop did not run for `ms` (a starved or paused process). */
  | { kind: 'stall'; ms: number }
  | { kind: 'store-event'; event: string };

/** Acknowledged reports: the worker waits until the parent has counted them. */
export type WorkerReport =
  | { type: 'enter' }
  | { type: 'exit' }
  | { type: 'exec-start'; key: string }
  | { type: 'exec-end'; key: string };
