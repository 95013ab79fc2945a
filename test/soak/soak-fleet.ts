import { setTimeout as delay } from 'node:timers/promises';
import { startFleet, type Fleet, type FleetWorker } from '../redis/fleet.js';
import type { Invariants } from './invariants.js';
import type { HeapWatch } from './heap-watch.js';
import type { SoakSettings } from './soak-protocol.js';

const WORKER = new URL('./soak-worker.ts', import.meta.url);
const STOP_TIMEOUT_MS = 30_000;
const SPAWN_ATTEMPTS = 3;

/**
 * The soak's workers, started one by one with test/redis/fleet.ts (each runs the library's
 * TypeScript through the swc loader, like the fleet tests' workers). Each has a number; a
 * replacement for a killed worker gets the next one.
 */
export class SoakFleet {
  private readonly live = new Map<number, Fleet>();
  private nextIndex = 0;
  unhandled: string[] = [];
  readonly notes: string[] = [];

  constructor(
    private readonly settings: SoakSettings,
    private readonly invariants: Invariants,
    private readonly heap: HeapWatch,
  ) {}

  get size(): number {
    return this.live.size;
  }

  /** A worker that was too slow to start (a busy machine) is tried again. */
  async spawn(attempts = SPAWN_ATTEMPTS): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.spawnOnce();
      } catch (error) {
        if (attempt >= attempts) throw error;
        this.notes.push(`a worker was started again: ${(error as Error).message}`);
      }
    }
  }

  private async spawnOnce(): Promise<void> {
    const index = this.nextIndex++;
    const onReport = (_worker: FleetWorker, report: any) => this.invariants.onReport(index, report);
    const fleet = await startFleet(
      WORKER,
      [{ connection: { mode: 'standalone', port: this.settings.port }, ...this.settings }],
      onReport,
    );
    const [worker] = fleet.workers;
    worker.proc.on('message', (message: any) => {
      if (message?.type !== 'soak') return;
      if (message.kind === 'heap') this.heap.sample(index, message.heapUsed);
      else this.invariants.onMessage(index, message);
    });
    this.live.set(index, fleet);
    this.heap.started(index);
    await worker.request('start');
  }

  /** SIGKILLs a random worker; answers its number. */
  async killOne(): Promise<number> {
    const indices = [...this.live.keys()];
    const index = indices[Math.floor(Math.random() * indices.length)];
    const fleet = this.live.get(index)!;
    this.live.delete(index);
    await fleet.workers[0].kill('SIGKILL');
    this.invariants.workerKilled(index);
    this.unhandled.push(...fleet.unhandled());
    return index;
  }

  /** SIGSTOPs a random worker for `ms`, then SIGCONTs it. */
  async pauseOne(ms: number): Promise<void> {
    const fleets = [...this.live.values()];
    const { proc } = fleets[Math.floor(Math.random() * fleets.length)].workers[0];
    proc.kill('SIGSTOP');
    try {
      await delay(ms);
    } finally {
      proc.kill('SIGCONT');
    }
  }

  /**
   * SIGKILLs every worker at once, synchronously: for the parent's exit on a signal or a
   * timeout (a worker exits by itself when the parent goes, unless it is stopped).
   */
  killAll(): void {
    for (const fleet of this.live.values()) fleet.workers[0].proc.kill('SIGKILL');
  }

  /** Lets every worker finish its calls and close its stores, then ends them all. */
  async stop(): Promise<void> {
    const fleets = [...this.live.values()];
    await Promise.all(
      [...this.live].map(([index, fleet]) =>
        fleet.workers[0].request('stop', {}, STOP_TIMEOUT_MS).catch((error: Error) => {
          this.unhandled.push(`worker ${index} did not stop: ${error.message}`);
        }),
      ),
    );
    for (const fleet of fleets) this.unhandled.push(...fleet.unhandled());
    await Promise.all(fleets.map((fleet) => fleet.stop()));
    this.live.clear();
  }
}
