import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Command, Reply } from './protocol.js';

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));
const REQUEST_TIMEOUT_MS = 30_000;
const EXIT_GRACE_MS = 2_000;

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** One forked bench process running the compiled worker.js. */
export class BenchWorker {
  private readonly proc: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private readonly exited: Promise<void>;
  private nextId = 0;

  constructor(readonly index: number) {
    this.proc = fork(WORKER, [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.exited = new Promise((resolve) => this.proc.once('exit', () => resolve()));
    this.proc.on('message', (reply: Reply) => this.settle(reply));
    this.proc.once('exit', (code, signal) => {
      const error = new Error(`bench worker ${index} exited (code ${code}, signal ${signal})`);
      for (const pending of this.pending.values()) {
        clearTimeout(pending.timer);
        pending.reject(error);
      }
      this.pending.clear();
    });
  }

  request<T>(command: Command, timeoutMs = REQUEST_TIMEOUT_MS): Promise<T> {
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`bench worker ${this.index}: ${command.cmd} timed out`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      this.proc.send({ ...command, id });
    });
  }

  /** Asks the worker to close its application and exit; kills it if it does not. */
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    await this.request({ cmd: 'close' }, EXIT_GRACE_MS).catch(() => undefined);
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), EXIT_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }

  private settle(reply: Reply): void {
    const pending = this.pending.get(reply.id);
    if (pending === undefined) return;
    this.pending.delete(reply.id);
    clearTimeout(pending.timer);
    if (reply.ok) pending.resolve(reply.result);
    else pending.reject(new Error(`bench worker ${this.index}: ${reply.error}`));
  }
}

/** Forks `count` workers and initialises them; on failure stops the ones already forked. */
export async function startWorkers(
  count: number,
  port: number,
  callers: number,
): Promise<BenchWorker[]> {
  const workers = Array.from({ length: count }, (_, index) => new BenchWorker(index));
  try {
    await Promise.all(
      workers.map((worker) => worker.request({ cmd: 'init', port, worker: worker.index, callers })),
    );
    return workers;
  } catch (error) {
    await stopWorkers(workers);
    throw error;
  }
}

export async function stopWorkers(workers: readonly BenchWorker[]): Promise<void> {
  await Promise.all(workers.map((worker) => worker.stop()));
}
