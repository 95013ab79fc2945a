import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const LOADER = fileURLToPath(new URL('../support/redis/ts-loader.mjs', import.meta.url));
// Generous: each worker compiles the library through the swc loader, and a loaded 2-core
// machine (four workers starting at once, beside Jest's own) has taken over 15 s.
const STARTUP_TIMEOUT_MS = 60_000;
const REQUEST_TIMEOUT_MS = 20_000;

/** How a worker reaches Redis; each worker builds its own client from it. */
export type Connection =
  | { mode: 'standalone'; port: number }
  | { mode: 'cluster'; nodes: { host: string; port: number }[] };

export interface WorkerInit {
  connection: Connection;
  /** Added to the worker's Date.now(): the stores must not care. */
  skewMs?: number;
  keyPrefix?: string;
  [key: string]: unknown;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** One forked worker process running TypeScript through the swc loader. */
export class FleetWorker {
  readonly unhandled: string[] = [];
  readonly events: unknown[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private readonly exited: Promise<void>;

  constructor(
    readonly index: number,
    readonly proc: ChildProcess,
    private readonly onReport?: (worker: FleetWorker, report: any) => unknown,
  ) {
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    proc.on('message', (message: any) => this.receive(message));
    proc.once('exit', () => this.failPending(new Error(`worker ${index} exited`)));
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  request<T = any>(
    cmd: string,
    args: Record<string, unknown> = {},
    timeoutMs = REQUEST_TIMEOUT_MS,
  ): Promise<T> {
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`worker ${this.index}: ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      this.proc.send({ id, cmd, ...args });
    });
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.alive) this.proc.kill(signal);
    await this.exited;
  }

  private receive(message: any): void {
    if (message?.type === 'unhandled') this.unhandled.push(message.error);
    else if (message?.type === 'event') this.events.push(message.event);
    else if (message?.type === 'report') this.answerReport(message);
    else if (message?.type === 'reply') this.settle(message);
  }

  /** A worker's report to the observer, acknowledged so the worker waits for it to count. */
  private answerReport(message: any): void {
    const answer = this.onReport?.(this, message.report);
    if (this.alive) this.proc.send({ type: 'ack', id: message.id, answer });
  }

  private settle(message: { id: number; ok: boolean; result?: unknown; error?: string }): void {
    const pending = this.pending.get(message.id);
    if (pending === undefined) return;
    this.pending.delete(message.id);
    clearTimeout(pending.timer);
    if (message.ok) pending.resolve(message.result);
    else pending.reject(new Error(`worker ${this.index}: ${message.error}`));
  }

  private failPending(error: Error): void {
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.pending.clear();
  }
}

export interface Fleet {
  readonly workers: FleetWorker[];
  /** Every unhandled rejection or uncaught exception any worker saw. */
  unhandled(): string[];
  /** Kills every worker that is still running; idempotent. */
  stop(): Promise<void>;
}

/** Forks `count` workers running `script` and waits until each has built its stores. */
export async function startFleet(
  script: URL,
  inits: WorkerInit[],
  onReport?: (worker: FleetWorker, report: any) => unknown,
): Promise<Fleet> {
  const workers = inits.map((init, index) => spawnWorker(script, index, onReport));
  const fleet: Fleet = {
    workers,
    unhandled: () => workers.flatMap((w) => w.unhandled),
    stop: async () => {
      await Promise.all(workers.map((w) => w.kill()));
    },
  };
  try {
    await Promise.all(
      workers.map((w, i) => w.request('init', { init: inits[i] }, STARTUP_TIMEOUT_MS)),
    );
  } catch (error) {
    await fleet.stop();
    throw error;
  }
  return fleet;
}

function spawnWorker(
  script: URL,
  index: number,
  onReport?: (worker: FleetWorker, report: any) => unknown,
): FleetWorker {
  const proc = fork(fileURLToPath(script), [], {
    execArgv: ['--import', LOADER, '--disable-warning=ExperimentalWarning'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  return new FleetWorker(index, proc, onReport);
}
