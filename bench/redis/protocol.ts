import type { PathId } from './paths.js';

/** What the bench process asks a worker process (IPC messages). */
export type Request =
  | { id: number; cmd: 'init'; port: number; worker: number; callers: number }
  | { id: number; cmd: 'sequential'; path: PathId; calls: number }
  | LoadRequest
  | { id: number; cmd: 'close' };

export interface LoadRequest {
  id: number;
  cmd: 'load';
  path: PathId;
  callers: number;
  /** Wall-clock ms at which every worker starts its callers. */
  startAt: number;
  warmMs: number;
  durationMs: number;
}

/** Distributes `Omit` over the union, so each request keeps its own fields. */
export type Command = Request extends infer R ? (R extends Request ? Omit<R, 'id'> : never) : never;

export interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

export interface SequentialResult {
  nsPerCall: number;
  /** Calls that did not end as their path expects. */
  wrong: number;
  /** How the first of them ended. */
  firstWrong?: string;
  /** Degraded-mode switches and Redis errors since the process started. */
  incidents: number;
}

export interface LoadResult {
  /** Calls that ended inside the measured window. */
  counted: number;
  /** Every call made, warm-up and overrun included (for round trips per call). */
  total: number;
  wrong: number;
  firstWrong?: string;
  incidents: number;
  /** CPU time this process used during the load (user + system), in µs. */
  cpuMicros: number;
}
