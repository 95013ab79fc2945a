import type { Redis } from 'ioredis';
import { bounded } from './bounded.js';
import { clientOptionWarnings, isCluster, type RedisClient } from './redis-client.js';

export interface StartupCheckReport {
  warn(message: string): void;
  /** A check that could not run: worth a line, not a warning. */
  info(message: string): void;
}

/**
 * Warnings at start-up: each missing client setting at once, and, once connected, every master
 * whose `maxmemory-policy` may evict leases. Never refuses to start.
 */
export class StartupChecks {
  private readonly onReady = (): void => this.checkEvictionPolicy();

  constructor(
    private readonly client: RedisClient,
    private readonly operationTimeoutMs: number,
    private readonly report: StartupCheckReport,
  ) {}

  start(): void {
    for (const message of clientOptionWarnings(this.client)) this.report.warn(message);
    if (this.client.status === 'ready') this.checkEvictionPolicy();
    else this.client.once('ready', this.onReady);
  }

  stop(): void {
    this.client.off('ready', this.onReady);
  }

  /** An evicted lease is silent over-admission, so anything but noeviction is worth a warning. */
  private checkEvictionPolicy(): void {
    const nodes: Redis[] = isCluster(this.client) ? this.client.nodes('master') : [this.client];
    for (const node of nodes) {
      const reply = node.config('GET', 'maxmemory-policy') as Promise<unknown>;
      bounded(reply, this.operationTimeoutMs, 'CONFIG GET').then(
        (policy) => this.reportEvictionPolicy(node, policy),
        // Managed services often forbid CONFIG; that is no reason to warn on every start.
        (error: unknown) => this.report.info(`could not read maxmemory-policy: ${String(error)}`),
      );
    }
  }

  private reportEvictionPolicy(node: Redis, reply: unknown): void {
    const policy = Array.isArray(reply) ? String(reply[1]) : String(reply);
    if (policy === 'noeviction') return;
    const at = `${node.options.host}:${node.options.port}`;
    this.report.warn(
      `maxmemory-policy is "${policy}" on ${at}: Redis may evict leases and state under memory pressure, which silently over-admits. Use a dedicated Redis (or database) with maxmemory-policy noeviction`,
    );
  }
}
