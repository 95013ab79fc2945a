import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import { BackendReporter } from './backend-reporter.js';
import { noop } from './bounded.js';
import { ChannelHub, type ChannelListener, type MessageHandler } from './channel-hub.js';
import { HealthGate, type GateTicket } from './health-gate.js';
import { LeaseRenewals, type RenewedLeaseRef } from './lease-renewals.js';
import type { LuaScript } from './lua/script.js';
import {
  assertSupportedClient,
  createClient,
  isRedisClient,
  lateResendWindowMs,
  quitClient,
  type RedisClient,
  type RedisConnectionSpec,
} from './redis-client.js';
import { errorKind, unavailable } from './redis-errors.js';
import {
  resolveBackendOptions,
  type RedisBackendOptions,
  type RedisStoreEvent,
  type ResolvedRedisBackendOptions,
} from './redis-options.js';
import { ScriptRunner, type ScriptArg } from './script-runner.js';
import { StartupChecks } from './startup-checks.js';
import { WriteQueue, type Undo } from './write-queue.js';

export type { ChannelListener } from './channel-hub.js';
export type { RedisConnectionSpec } from './redis-client.js';
export type { Undo } from './write-queue.js';

/**
 * One Redis connection shared by the Redis stores: key naming with a hash tag per object, Lua
 * scripts, a bound on every round trip, degraded mode (the backend breaker), one pub/sub
 * connection, and shutdown. A client it was given stays open; one it created is closed by
 * `close()` or on application shutdown. The work is done by its parts: `ScriptRunner` (sending),
 * `HealthGate` (degraded mode), `WriteQueue` (replayed writes and undos), `ChannelHub` (pub/sub),
 * `StartupChecks` and `BackendReporter` (events and logs).
 *
 * @publicApi
 */
export class RedisBackend implements OnApplicationShutdown {
  readonly client: RedisClient;
  readonly options: ResolvedRedisBackendOptions;
  private readonly ownsClient: boolean;
  private readonly reporter: BackendReporter;
  private readonly gate: HealthGate;
  private readonly runner: ScriptRunner;
  private readonly writes: WriteQueue;
  private readonly hub: ChannelHub;
  private readonly checks: StartupChecks;
  private readonly renewals = new LeaseRenewals();
  private readonly closers = new Set<() => void>();
  private closing?: Promise<void>;

  constructor(client: RedisClient | RedisConnectionSpec, options: RedisBackendOptions = {}) {
    this.options = resolveBackendOptions(options);
    const { operationTimeoutMs: timeoutMs, onEvent } = this.options;
    this.reporter = new BackendReporter(this.options.logger ?? new Logger('RedisStores'), onEvent);
    this.ownsClient = !isRedisClient(client);
    this.client = isRedisClient(client) ? client : createClient(client);
    try {
      assertSupportedClient(this.client);
    } catch (error) {
      if (this.ownsClient) this.client.disconnect();
      throw error;
    }
    this.gate = this.createGate();
    this.runner = new ScriptRunner(this.client, timeoutMs);
    this.writes = this.createWriteQueue();
    this.hub = new ChannelHub(this.client, timeoutMs, this.reporter);
    this.checks = new StartupChecks(this.client, timeoutMs, this.reporter);
    // Without a listener, ioredis reports connection errors as unhandled 'error' events.
    if (this.ownsClient) this.client.on('error', noop);
    if (this.options.checkClient) this.checks.start();
  }

  /** A backend for `client`, or `client` itself when it already is one. */
  static of(
    client: RedisClient | RedisConnectionSpec | RedisBackend,
    options?: RedisBackendOptions,
  ): RedisBackend {
    return client instanceof RedisBackend ? client : new RedisBackend(client, options);
  }

  /** False while degraded mode refuses calls: stores then answer locally, with no round trip. */
  get available(): boolean {
    return this.closing === undefined && this.gate.open;
  }

  get degraded(): boolean {
    return this.gate.degraded;
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** `<prefix>{<kind>:<name>}:<part>`: every key of one object shares a hash tag, hence a slot. */
  key(kind: string, name: string, part: string): string {
    return `${this.options.keyPrefix}{${kind}:${name}}:${part}`;
  }

  /** A channel name; includes the client's own keyPrefix, which ioredis applies to keys only. */
  channel(suffix: string): string {
    const clientPrefix = this.client.options.keyPrefix ?? '';
    return `${clientPrefix}${this.options.keyPrefix}${suffix}`;
  }

  /**
   * @internal Runs a script in one round trip. Settles within `operationTimeoutMs`; rejects with
   * `RedisUnavailableError` at once, without a round trip, while degraded. `undo` runs once
   * Redis answers again if this call fails after it may have reached Redis: a decision whose
   * reply was lost (a timeout) may still have been applied, e.g. a slot granted to a caller who
   * gave up, which would otherwise block the cap until its lease lapses.
   */
  run(
    script: LuaScript,
    keys: readonly string[],
    args: readonly ScriptArg[],
    undo?: Undo,
  ): Promise<unknown> {
    if (this.closing !== undefined) return Promise.reject(unavailable(script, 'closed'));
    const ticket = this.gate.enter();
    if (ticket === 'refused') return Promise.reject(unavailable(script, 'degraded'));
    return this.runner.run(script, keys, args).then(
      (reply) => {
        this.gate.success(ticket);
        this.writes.answered();
        return reply;
      },
      (error: unknown) => this.fail(ticket, script, error, undo),
    );
  }

  /**
   * @internal Runs a write that ends a lease (a release, a completion, a failure): one that is
   * refused while degraded, or fails, is queued and replayed once Redis answers again, until
   * `maxAgeMs`; otherwise the slot or claim it ends would stay taken until its lease lapsed.
   * The write must be idempotent (it names its token, `ends`). Rejects as `run` does.
   */
  settle(
    script: LuaScript,
    keys: readonly string[],
    args: readonly ScriptArg[],
    maxAgeMs: number,
    ends?: string,
  ): Promise<unknown> {
    const replay: Undo = { script, keys, args, maxAgeMs };
    // `run` refuses it without a round trip (the same test as its gate): queue it now.
    if (!this.available) this.writes.add(replay);
    const answered = this.run(script, keys, args, replay);
    return ends === undefined ? answered : this.renewals.ending(answered, ends);
  }

  /**
   * @internal Renews a lease: true when extended, false when it is gone, reported as
   * `redis.lease-lost` unless its holder had ended it first (see `LeaseRenewals`).
   */
  renew(
    script: LuaScript,
    keys: readonly string[],
    args: readonly ScriptArg[],
    lease: RenewedLeaseRef,
  ): Promise<boolean> {
    const { primitive, name, token } = lease;
    const sent = () => this.run(script, keys, args);
    const lost = () => this.emit({ type: 'redis.lease-lost', primitive, name });
    return this.renewals.renew(sent, token, lost);
  }

  /**
   * @internal Subscribes `handler` to `channel` on the shared subscriber connection (one
   * SUBSCRIBE per channel per process, however many listeners). Never rejects.
   */
  listen(channel: string, handler: MessageHandler): ChannelListener {
    if (this.closing !== undefined) return { ready: Promise.resolve(false), close: noop };
    return this.hub.listen(channel, handler);
  }

  /** @internal Registers cleanup (timers, waiters) that `close()` runs first. */
  onClose(closer: () => void): void {
    this.closers.add(closer);
  }

  /** @internal Reports an event to `onEvent`, and logs what an operator must see. */
  emit(event: RedisStoreEvent): void {
    this.reporter.emit(event);
  }

  /** Stops timers and the subscriber; closes the client only if this backend created it. */
  close(): Promise<void> {
    if (this.closing === undefined) {
      // Queued writes get a last try (each bounded by operationTimeoutMs) before the client
      // goes: a departing process would otherwise leave its released slots taken for a lease.
      const lastTry = this.writes.lastTry();
      this.closing = lastTry.then(() => this.shutdown());
    }
    return this.closing;
  }

  onApplicationShutdown(): Promise<void> {
    return this.close();
  }

  private createGate(): HealthGate {
    const { degradeAfterFailures, degradedCooldownMs } = this.options;
    return new HealthGate(
      { failureThreshold: degradeAfterFailures, cooldownMs: degradedCooldownMs },
      {
        degraded: (error, retryInMs) => this.emit({ type: 'redis.degraded', error, retryInMs }),
        recovered: (degradedForMs) => this.emit({ type: 'redis.recovered', degradedForMs }),
      },
    );
  }

  private createWriteQueue(): WriteQueue {
    return new WriteQueue({
      // Through `run`: its gate, its events, and whatever wraps it.
      run: (write) => this.run(write.script, write.keys, write.args),
      degraded: () => this.gate.degraded,
      open: () => this.gate.open,
      lateResendMs: lateResendWindowMs(this.client, this.options.operationTimeoutMs),
      maxBytes: this.options.maxQueuedWriteBytes,
      warn: (message) => this.reporter.warn(message),
    });
  }

  private fail(ticket: GateTicket, script: LuaScript, error: unknown, undo?: Undo): never {
    const kind = errorKind(error);
    // Redis answered about the data (a key of the wrong type...): it is not down.
    if (kind === 'data') this.gate.success(ticket);
    // Refused until an operator acts: said first, then degraded mode at once (no call can
    // succeed meanwhile).
    else if (kind === 'config') {
      this.reporter.refused(script.command, error);
      this.gate.trip(ticket, error);
    } else this.gate.failure(ticket, error);
    // A refused decision never ran: nothing to undo. A write replays itself (it must happen).
    if (undo !== undefined && (kind !== 'config' || undo.script === script)) {
      this.writes.undoLostDecision(undo, undo.script !== script);
    }
    this.reporter.failed(script.command, error);
    throw unavailable(script, error);
  }

  private async shutdown(): Promise<void> {
    this.writes.stop();
    for (const closer of this.closers) {
      try {
        closer();
      } catch {
        // Cleanup of one store must not stop the others.
      }
    }
    this.closers.clear();
    this.checks.stop();
    this.hub.close();
    if (this.ownsClient) await quitClient(this.client, this.options.operationTimeoutMs);
  }
}
