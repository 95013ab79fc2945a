import { setTimeout as delay } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { RedisServerHandle } from '../support/redis/index.js';
import type { FaultLog, FaultType } from './fault-log.js';
import type { SoakFleet } from './soak-fleet.js';

type InjectedFault = Exclude<FaultType, 'degraded' | 'redis-error' | 'worker-stall'>;
const FAULTS: InjectedFault[] = [
  'redis-pause',
  'redis-restart',
  'client-kill',
  'slow-command',
  'worker-kill',
];
/** How long `worker-pause` stops a worker: around the least a lease has left (2/3 of it). */
const WORKER_PAUSE_LEASES: [number, number] = [0.6, 1.3];

const between = (low: number, high: number) => low + Math.random() * (high - low);

/**
 * Injects one fault at a time, at random intervals, drawing from a shuffled bag so every type
 * comes round equally often. Each fault is logged from its start until it has healed.
 */
export class FaultInjector {
  readonly notes: string[] = [];
  private bag: InjectedFault[] = [];
  private stopped = false;
  private readonly stopping = new AbortController();
  private loop?: Promise<void>;
  private slowCommand?: 'DEBUG SLEEP 0.3' | 'CLIENT PAUSE 300 WRITE';
  private readonly faults: InjectedFault[];

  /** @param workerPauses adds `worker-pause` to the faults drawn (a check of the checker) */
  constructor(
    private readonly server: RedisServerHandle,
    private readonly admin: Redis,
    private readonly fleet: SoakFleet,
    private readonly log: FaultLog,
    private readonly gapMs: [number, number],
    private readonly leaseMs: number,
    workerPauses = false,
  ) {
    this.faults = workerPauses ? [...FAULTS, 'worker-pause'] : FAULTS;
  }

  start(): void {
    this.loop = this.run();
  }

  /** Waits for the fault in progress to heal. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      await delay(between(...this.gapMs), undefined, { signal: this.stopping.signal }).catch(
        () => undefined,
      );
      if (this.stopped) return;
      await this.inject(this.draw());
    }
  }

  private draw(): InjectedFault {
    if (this.bag.length === 0) this.bag = [...this.faults].sort(() => Math.random() - 0.5);
    return this.bag.pop()!;
  }

  private async inject(type: InjectedFault): Promise<void> {
    const window = this.log.begin(type);
    try {
      await this[type]();
    } catch (error) {
      this.notes.push(`${type} failed: ${(error as Error).message}`);
    } finally {
      this.log.heal(window);
    }
  }

  /** SIGSTOP: connections stay open but nothing answers. */
  private async 'redis-pause'(): Promise<void> {
    this.server.pause();
    await delay(between(300, 2000));
    this.server.resume();
  }

  /** kill -9 and a fresh server on the same port: every key is gone. */
  private async 'redis-restart'(): Promise<void> {
    await this.server.restart();
  }

  /** Drops every worker connection, commands and subscribers alike (not the admin's own). */
  private async 'client-kill'(): Promise<void> {
    await this.admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    await this.admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub', 'SKIPME', 'yes');
  }

  /** Blocks Redis for 300 ms: DEBUG SLEEP where allowed, else pauses its writes. */
  private async 'slow-command'(): Promise<void> {
    if (this.slowCommand !== 'CLIENT PAUSE 300 WRITE') {
      try {
        await this.admin.call('DEBUG', 'SLEEP', '0.3');
        this.slowCommand = 'DEBUG SLEEP 0.3';
        return;
      } catch (error) {
        this.notes.push(`DEBUG SLEEP refused (${(error as Error).message}); using CLIENT PAUSE`);
        this.slowCommand = 'CLIENT PAUSE 300 WRITE';
      }
    }
    await this.admin.client('PAUSE', '300', 'WRITE');
    await delay(300);
  }

  /** SIGKILL one worker and start a replacement. */
  private async 'worker-kill'(): Promise<void> {
    await this.fleet.killOne();
    await this.fleet.spawn();
  }

  /**
   * SIGSTOP of a random worker for about its lease: the starved holder the docs warn of. Its
   * slots may lapse and be granted again while its calls run; only its own stall report may
   * explain the excess (the cap stays exact).
   */
  private async 'worker-pause'(): Promise<void> {
    const [low, high] = WORKER_PAUSE_LEASES;
    await this.fleet.pauseOne(between(low * this.leaseMs, high * this.leaseMs));
  }

  get slowCommandUsed(): string | undefined {
    return this.slowCommand;
  }
}
