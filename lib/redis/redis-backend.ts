import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';
import { withoutStack } from '../core/orchestrator.error.js';
import { HealthGate, type GateTicket } from './health-gate.js';
import type { LuaScript } from './lua/script.js';
import {
  assertSupportedClient,
  clientOptionWarnings,
  isCluster,
  type RedisClient,
} from './redis-client.js';
import {
  resolveBackendOptions,
  type RedisBackendOptions,
  type RedisStoreEvent,
  type ResolvedRedisBackendOptions,
} from './redis-options.js';
import { RedisUnavailableError } from './redis-unavailable.error.js';

/**
 * How to reach Redis when the stores should create (and later close) the client themselves: a
 * URL, standalone `RedisOptions`, or Cluster seed nodes. The safe defaults (`commandTimeout`
 * 250, `enableOfflineQueue: false`, `maxRetriesPerRequest: 1`) apply unless overridden.
 *
 * @publicApi
 */
export type RedisConnectionSpec =
  string | RedisOptions | { cluster: ClusterNode[]; options?: ClusterOptions };

/**
 * A subscription to one channel; `ready` resolves false when SUBSCRIBE did not succeed.
 *
 * @publicApi
 */
export interface ChannelListener {
  readonly ready: Promise<boolean>;
  close(): void;
}

type ScriptArg = string | number;

/**
 * A script to run once Redis answers again: one that reverts a decision whose reply was lost, or
 * a write that ends a lease and could not be delivered. Idempotent (it names its token); useless
 * after `maxAgeMs`, when the lease it ends has lapsed anyway.
 *
 * @publicApi
 */
export interface Undo {
  readonly script: LuaScript;
  readonly keys: readonly string[];
  readonly args: readonly ScriptArg[];
  readonly maxAgeMs: number;
}
type MessageHandler = (message: string) => void;

interface Channel {
  handlers: Set<MessageHandler>;
  ready: Promise<boolean>;
  failed: boolean;
}

const SAFE_DEFAULTS = {
  commandTimeout: 250,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  // A command given up on is not sent again after a reconnect (it would count twice, or hold a
  // slot for nobody).
  autoResendUnfulfilledCommands: false,
};
const noop = (): void => undefined;
/** Bound of the undo queue; the oldest undo is dropped first (its lease lapses by itself). */
const MAX_UNDOS = 10_000;
/** While degraded, how often pending undos try to reach Redis (as its recovery probe). */
const UNDO_RETRY_MS = 250;

/**
 * One Redis connection shared by the Redis stores: key naming with a hash tag per object, Lua
 * scripts (`defineCommand`: EVALSHA, then EVAL after NOSCRIPT), a bound on every round trip,
 * degraded mode (the backend breaker), one pub/sub connection, and shutdown. A client it was
 * given stays open; one it created is closed by `close()` or on application shutdown.
 *
 * @publicApi
 */
export class RedisBackend implements OnApplicationShutdown {
  readonly client: RedisClient;
  readonly options: ResolvedRedisBackendOptions;
  private readonly ownsClient: boolean;
  private readonly gate: HealthGate;
  private readonly logger: { warn(message: string): void; log?(message: string): void };
  private readonly defined = new Set<string>();
  private readonly channels = new Map<string, Channel>();
  private readonly closers = new Set<() => void>();
  private readonly undos: Array<{ undo: Undo; until: number }> = [];
  private undoTimer: ReturnType<typeof setTimeout> | undefined;
  private lastUndoFlushAt = -Infinity;
  private readonly lateUndoTimers = new Set<ReturnType<typeof setTimeout>>();
  /** How long after giving up on a command the client may still send it (see `undoLostDecision`). */
  private readonly lateResendMs: number;
  private subscriber?: RedisClient;
  private readiness?: Promise<void>;
  private wasReady = false;
  private closing?: Promise<void>;
  private readonly onReady = (): void => this.checkEvictionPolicy();

  constructor(client: RedisClient | RedisConnectionSpec, options: RedisBackendOptions = {}) {
    this.options = resolveBackendOptions(options);
    this.logger = this.options.logger ?? new Logger('RedisStores');
    this.ownsClient = !isRedisClient(client);
    this.client = isRedisClient(client) ? client : createClient(client);
    try {
      assertSupportedClient(this.client);
    } catch (error) {
      if (this.ownsClient) this.client.disconnect();
      throw error;
    }
    this.gate = new HealthGate(
      {
        failureThreshold: this.options.degradeAfterFailures,
        cooldownMs: this.options.degradedCooldownMs,
      },
      {
        degraded: (error, retryInMs) => this.emit({ type: 'redis.degraded', error, retryInMs }),
        recovered: (degradedForMs) => this.emit({ type: 'redis.recovered', degradedForMs }),
      },
    );
    // Without a listener, ioredis reports connection errors as unhandled 'error' events.
    if (this.ownsClient) this.client.on('error', noop);
    if (this.options.checkClient) this.checkClient();
    this.lateResendMs = lateResendWindowMs(this.client, this.options.operationTimeoutMs);
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
   * Runs a script in one round trip. Settles within `operationTimeoutMs`; rejects with
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
    if (this.closing !== undefined) return Promise.reject(this.unavailable(script, 'closed'));
    const ticket = this.gate.enter();
    if (ticket === 'refused') return Promise.reject(this.unavailable(script, 'degraded'));
    const attempt = { abandoned: false };
    const sent = this.send(script, keys, args, attempt);
    return this.bounded(sent, script.command, () => (attempt.abandoned = true)).then(
      (reply) => {
        this.gate.success(ticket);
        if (this.undos.length > 0) this.flushUndosSoon();
        return reply;
      },
      (error: unknown) => {
        if (undo !== undefined) this.undoLostDecision(undo, undo.script !== script);
        return this.fail(ticket, script, error);
      },
    );
  }

  /**
   * Runs a write that ends a lease (a release, a completion, a failure): one that is refused
   * while degraded, or fails, is queued and replayed once Redis answers again, until
   * `maxAgeMs`; otherwise the slot or claim it ends would stay taken until its lease lapsed.
   * The write must be idempotent (it names its token). Rejects as `run` does.
   */
  settle(
    script: LuaScript,
    keys: readonly string[],
    args: readonly ScriptArg[],
    maxAgeMs: number,
  ): Promise<unknown> {
    const replay: Undo = { script, keys, args, maxAgeMs };
    // `run` refuses it without a round trip (the same test as its gate): queue it now.
    if (!this.available) this.scheduleUndo(replay);
    return this.run(script, keys, args, replay);
  }

  /**
   * Subscribes `handler` to `channel` on the shared subscriber connection (one SUBSCRIBE per
   * channel per process, however many listeners). Never rejects.
   */
  listen(channel: string, handler: MessageHandler): ChannelListener {
    if (this.closing !== undefined) return { ready: Promise.resolve(false), close: noop };
    let entry = this.channels.get(channel);
    if (entry === undefined) {
      entry = { handlers: new Set(), ready: this.subscribe(channel), failed: false };
      this.channels.set(channel, entry);
    } else if (entry.failed) {
      // The last SUBSCRIBE failed (Redis was down): a new listener tries again.
      entry.failed = false;
      entry.ready = this.subscribe(channel);
    }
    const current = entry;
    current.handlers.add(handler);
    current.ready.then((ok) => (current.failed ||= !ok), noop);
    return { ready: current.ready, close: () => this.unlisten(channel, handler) };
  }

  /** Registers cleanup (timers, waiters) that `close()` runs first. */
  onClose(closer: () => void): void {
    this.closers.add(closer);
  }

  emit(event: RedisStoreEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch {
      // A throwing listener must not break a decision.
    }
    const message = describeEvent(event);
    if (message !== undefined) this.logger.warn(message);
  }

  /** Stops timers and the subscriber; closes the client only if this backend created it. */
  close(): Promise<void> {
    if (this.closing === undefined) {
      // Queued writes get a last try (each bounded by operationTimeoutMs) before the client
      // goes: a departing process would otherwise leave its released slots taken for a lease.
      const lastTry = this.deliverQueuedWrites();
      this.closing = lastTry.then(() => this.shutdown());
    }
    return this.closing;
  }

  onApplicationShutdown(): Promise<void> {
    return this.close();
  }

  private async send(
    script: LuaScript,
    keys: readonly string[],
    args: readonly ScriptArg[],
    attempt: { abandoned: boolean },
  ): Promise<unknown> {
    // Only the first connection is waited for; a reconnect fails fast (no offline queue).
    if (!this.wasReady && this.client.status !== 'ready') await this.ready();
    // The caller gave up while we waited: sending now would apply a decision nobody awaits.
    if (attempt.abandoned) throw new Error('abandoned before it was sent');
    this.wasReady = true;
    this.define(script);
    const command = (
      this.client as unknown as Record<string, (...a: ScriptArg[]) => Promise<unknown>>
    )[script.command];
    return command.call(this.client, ...keys, ...args);
  }

  /** defineCommand once per client: ioredis then sends EVALSHA, and EVAL after a NOSCRIPT. */
  private define(script: LuaScript): void {
    if (this.defined.has(script.command)) return;
    const client = this.client as unknown as Record<string, unknown>;
    if (typeof client[script.command] !== 'function') {
      this.client.defineCommand(script.command, {
        numberOfKeys: script.numberOfKeys,
        lua: script.lua,
      });
    }
    this.defined.add(script.command);
  }

  /** Waits for the connection (start-up, reconnect); shared by every caller meanwhile. */
  private ready(): Promise<void> {
    this.readiness ??= new Promise<void>((resolve) => {
      if (this.client.status === 'wait') this.client.connect().catch(noop);
      this.client.once('ready', resolve);
    }).finally(() => (this.readiness = undefined));
    return this.readiness;
  }

  /** Settles within operationTimeoutMs, whatever the client's own timeouts are. */
  private bounded<T>(promise: Promise<T>, what: string, onTimeout: () => void = noop): Promise<T> {
    const ms = this.options.operationTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        onTimeout();
        promise.catch(noop);
        reject(withoutStack(() => new Error(`Redis did not answer ${what} within ${ms} ms`)));
      }, ms);
      timer.unref?.();
      promise.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  /**
   * Queues `undo`; for a decision (not a write replayed as itself) once more after the client's
   * resend window: ioredis may still send the abandoned original later (a Cluster retries it
   * after TRYAGAIN or a redirection; a reconnect resends unanswered commands), and an original
   * that lands after the first undo would hold a slot, a claim or a probe for nobody.
   */
  private undoLostDecision(undo: Undo, undoAgainLater: boolean): void {
    this.scheduleUndo(undo);
    if (!undoAgainLater || this.closing !== undefined) return;
    // A late original's lease starts when it lands: the second undo lives as long as that.
    const until = performance.now() + this.lateResendMs + undo.maxAgeMs;
    const timer = setTimeout(() => {
      this.lateUndoTimers.delete(timer);
      this.scheduleUndo(undo, until);
    }, this.lateResendMs);
    timer.unref?.();
    this.lateUndoTimers.add(timer);
  }

  private scheduleUndo(undo: Undo, until = performance.now() + undo.maxAgeMs): void {
    if (until <= performance.now() || this.closing !== undefined) return;
    if (this.undos.length >= MAX_UNDOS) this.undos.shift();
    this.undos.push({ undo, until });
    this.retryUndosLater();
  }

  private deliverQueuedWrites(): Promise<unknown> {
    if (this.undos.length === 0 || !this.available) return Promise.resolve();
    const now = performance.now();
    const live = this.undos.splice(0).filter((entry) => entry.until > now);
    return Promise.all(
      live.map(({ undo }) => this.run(undo.script, undo.keys, undo.args).catch(noop)),
    );
  }

  /** At once when Redis answers again, then at most once per `UNDO_RETRY_MS`. */
  private flushUndosSoon(): void {
    if (performance.now() - this.lastUndoFlushAt >= UNDO_RETRY_MS) this.flushUndos();
    else this.retryUndosLater();
  }

  /** Runs the pending undos; one that fails again is queued again (see `replay`). */
  private flushUndos(): void {
    if (this.undos.length === 0 || this.gate.degraded) return;
    const now = performance.now();
    this.lastUndoFlushAt = now;
    for (const { undo, until } of this.undos.splice(0)) {
      if (until > now) this.replay(undo, until);
    }
  }

  /** Queued again until `until`: paced retries are bounded, and any error may be passing. */
  private replay(undo: Undo, until: number): void {
    this.run(undo.script, undo.keys, undo.args).catch(() => this.scheduleUndo(undo, until));
  }

  private dropExpiredUndos(): void {
    const now = performance.now();
    const live = this.undos.filter((entry) => entry.until > now);
    this.undos.splice(0, this.undos.length, ...live);
  }

  /**
   * Pending undos are tried again soon even when this process makes no other call: all of them
   * while Redis is healthy; while degraded, the oldest, which becomes the gate's recovery probe
   * once the cooldown has passed.
   */
  private retryUndosLater(): void {
    if (this.undoTimer !== undefined) return;
    this.undoTimer = setTimeout(() => {
      this.undoTimer = undefined;
      if (!this.gate.degraded) return this.flushUndos();
      this.dropExpiredUndos();
      const oldest = this.gate.open ? this.undos.shift() : undefined;
      if (oldest !== undefined) this.replay(oldest.undo, oldest.until);
      if (this.undos.length > 0) this.retryUndosLater();
    }, UNDO_RETRY_MS);
    this.undoTimer.unref?.();
  }

  private fail(ticket: GateTicket, script: LuaScript, error: unknown): never {
    // Redis answered, about the data (a key of the wrong type...): it is not down.
    if (isDataError(error)) this.gate.success(ticket);
    else this.gate.failure(ticket, error);
    this.emit({ type: 'redis.error', operation: script.command, error });
    throw this.unavailable(script, error);
  }

  private unavailable(script: LuaScript, cause: unknown): RedisUnavailableError {
    const reason = typeof cause === 'string' ? new Error(cause) : cause;
    return withoutStack(() => new RedisUnavailableError(script.command, { cause: reason }));
  }

  private subscribe(channel: string): Promise<boolean> {
    const subscriber = this.subscriberClient();
    return this.bounded(subscriber.subscribe(channel), `SUBSCRIBE ${channel}`).then(
      () => true,
      (error: unknown) => {
        this.emit({ type: 'redis.error', operation: `subscribe ${channel}`, error });
        return false;
      },
    );
  }

  private unlisten(channel: string, handler: MessageHandler): void {
    const entry = this.channels.get(channel);
    if (entry === undefined || !entry.handlers.delete(handler) || entry.handlers.size > 0) return;
    this.channels.delete(channel);
    if (this.subscriber !== undefined && this.closing === undefined) {
      this.subscriber.unsubscribe(channel).catch(noop);
    }
  }

  /** Created on first use; ioredis re-subscribes its channels by itself after a reconnect. */
  private subscriberClient(): RedisClient {
    if (this.subscriber !== undefined) return this.subscriber;
    // The offline queue lets a SUBSCRIBE sent while (re)connecting go out once connected.
    const subscriber = isCluster(this.client)
      ? this.client.duplicate([], { enableOfflineQueue: true })
      : this.client.duplicate({ enableOfflineQueue: true, lazyConnect: false });
    subscriber.on('error', noop);
    subscriber.on('message', (channel: string, message: string) => this.deliver(channel, message));
    this.subscriber = subscriber;
    return subscriber;
  }

  private deliver(channel: string, message: string): void {
    for (const handler of this.channels.get(channel)?.handlers ?? []) {
      try {
        handler(message);
      } catch (error) {
        this.emit({ type: 'redis.error', operation: `message on ${channel}`, error });
      }
    }
  }

  private checkClient(): void {
    for (const message of clientOptionWarnings(this.client))
      this.emit({ type: 'redis.warning', message });
    if (this.client.status === 'ready') this.checkEvictionPolicy();
    else this.client.once('ready', this.onReady);
  }

  /** An evicted lease is silent over-admission, so anything but noeviction is worth a warning. */
  private checkEvictionPolicy(): void {
    const nodes: Redis[] = isCluster(this.client) ? this.client.nodes('master') : [this.client];
    for (const node of nodes) {
      this.bounded(node.config('GET', 'maxmemory-policy') as Promise<unknown>, 'CONFIG GET').then(
        (reply) => this.reportEvictionPolicy(node, reply),
        // Managed services often forbid CONFIG; that is no reason to warn on every start.
        (error: unknown) => this.logger.log?.(`could not read maxmemory-policy: ${String(error)}`),
      );
    }
  }

  private reportEvictionPolicy(node: Redis, reply: unknown): void {
    const policy = Array.isArray(reply) ? String(reply[1]) : String(reply);
    if (policy === 'noeviction') return;
    const at = `${node.options.host}:${node.options.port}`;
    this.emit({
      type: 'redis.warning',
      message: `maxmemory-policy is "${policy}" on ${at}: Redis may evict leases and state under memory pressure, which silently over-admits. Use a dedicated Redis (or database) with maxmemory-policy noeviction`,
    });
  }

  private async shutdown(): Promise<void> {
    clearTimeout(this.undoTimer);
    this.lateUndoTimers.forEach(clearTimeout);
    this.lateUndoTimers.clear();
    this.undos.length = 0;
    for (const closer of this.closers) {
      try {
        closer();
      } catch {
        // Cleanup of one store must not stop the others.
      }
    }
    this.closers.clear();
    this.client.off('ready', this.onReady);
    if (this.subscriber !== undefined) disconnect(this.subscriber);
    if (!this.ownsClient || this.client.status === 'end') return;
    const ended = new Promise<void>((resolve) => this.client.once('end', resolve));
    await this.bounded(this.client.quit(), 'QUIT').catch(noop);
    await this.bounded(ended, 'the connection to close').catch(noop);
    disconnect(this.client);
  }
}

function disconnect(client: RedisClient): void {
  // disconnect() on an ended client arms a timer that never clears (ioredis).
  if (client.status !== 'end') client.disconnect();
}

function isRedisClient(value: unknown): value is RedisClient {
  return value instanceof Redis || value instanceof Cluster || hasClientShape(value);
}

/** Recognises a client from another copy of ioredis, where instanceof fails. */
function hasClientShape(value: unknown): boolean {
  const candidate = value as { defineCommand?: unknown; duplicate?: unknown; status?: unknown };
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof candidate.defineCommand === 'function' &&
    typeof candidate.duplicate === 'function' &&
    typeof candidate.status === 'string'
  );
}

function createClient(spec: RedisConnectionSpec): RedisClient {
  if (typeof spec === 'string') return new Redis(spec, { ...SAFE_DEFAULTS });
  if ('cluster' in spec) {
    const { enableOfflineQueue = false, redisOptions, ...rest } = spec.options ?? {};
    const { enableOfflineQueue: _topLevelOnly, ...perNode } = SAFE_DEFAULTS;
    return new Cluster(spec.cluster, {
      ...rest,
      enableOfflineQueue,
      redisOptions: { ...perNode, ...redisOptions },
    });
  }
  return new Redis({ ...SAFE_DEFAULTS, ...spec });
}

function describeEvent(event: RedisStoreEvent): string | undefined {
  switch (event.type) {
    case 'redis.degraded':
      return `Redis unavailable (${errorText(event.error)}): degraded mode, in-process behaviour for ${event.retryInMs} ms before the next try`;
    case 'redis.recovered':
      return `Redis is back after ${Math.round(event.degradedForMs)} ms in degraded mode`;
    case 'redis.lease-lost':
      return `${event.primitive} "${event.name}": a lease expired while held (process paused or Redis lost it); the fleet may briefly exceed its guarantee`;
    case 'redis.warning':
      return event.message;
    default:
      return undefined;
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Error replies about the data a script touched, not about Redis's health. */
const DATA_ERROR = /^(WRONGTYPE|NOPERM|CROSSSLOT)\b/;

function isDataError(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError' && DATA_ERROR.test(error.message);
}

/**
 * How long the client may go on sending a command the backend gave up on: a Cluster retries it
 * up to `maxRedirections` times, `retryDelayOnTryAgain` apart; a standalone client resends
 * unanswered commands when it reconnects. Best effort, with a margin.
 */
function lateResendWindowMs(client: RedisClient, operationTimeoutMs: number): number {
  if (!isCluster(client)) return 2_000 + operationTimeoutMs;
  const options = client.options;
  const delays = [
    options.retryDelayOnTryAgain ?? 100,
    options.retryDelayOnClusterDown ?? 100,
    options.retryDelayOnFailover ?? 100,
    options.retryDelayOnMoved ?? 0,
  ];
  return Math.max(...delays) * (options.maxRedirections ?? 16) + operationTimeoutMs;
}
