import { randomBytes } from 'node:crypto';
import type { OnApplicationShutdown } from '@nestjs/common';
import {
  BackpressureStore,
  type BackpressureAcquisition,
  type BackpressureConfig,
} from '../backpressure/backpressure.store.js';
import { DEFAULT_BACKPRESSURE_OPTIONS } from '../backpressure/backpressure-options.js';
import { InMemoryBackpressureStore } from '../backpressure/in-memory-backpressure.store.js';
import { checkInteger } from '../core/validate.js';
import { BP_ACQUIRE, BP_DEPTH, BP_RELEASE, BP_RENEW } from './lua/backpressure.lua.js';
import {
  RedisBackend,
  type ChannelListener,
  type RedisConnectionSpec,
  type Undo,
} from './redis-backend.js';
import type { RedisClient } from './redis-client.js';
import type { RedisBackendOptions } from './redis-options.js';

/**
 * Options of `RedisBackpressureStore`. The backend options apply only when the store creates
 * its own backend (it was given a client or a connection spec, not a `RedisBackend`).
 *
 * @publicApi
 */
export interface RedisBackpressureStoreOptions extends RedisBackendOptions {
  /**
   * While Redis is unavailable: `false` caps each process at
   * `max(1, floor(capacity / replicasHint))`; `true` refuses (sheds) every call. @default false
   */
  failClosed?: boolean;
  /** How many processes share a cap; sizes the local cap while Redis is unavailable. @default 1 */
  replicasHint?: number;
}

type AcquireReply = [number, number, number];

/** Tokens of slots taken from the in-process fallback while Redis was unavailable. */
const LOCAL = 'local:';
/** How long a refused acquire keeps "someone waits" set; waiting guards re-ask well within it. */
const WAIT_FLAG_MS = 1000;

/**
 * A concurrency cap shared by every process that uses the same Redis and key prefix: at most
 * `capacity` live leases per name across the fleet. The guard renews each slot's lease while it
 * is held; a crashed holder's slot is reclaimed once its lease lapses; a renewal that finds its
 * lease gone reports it and never re-adds it. While Redis is down or hung each process falls
 * back to a local share of the cap, or sheds (`failClosed`).
 *
 * Round trips: acquire 1, release 1, one renewal per held slot every `leaseMs / 3`.
 *
 * @publicApi
 */
export class RedisBackpressureStore extends BackpressureStore implements OnApplicationShutdown {
  override readonly leasesExpire = true;
  readonly backend: RedisBackend;
  private readonly local = new InMemoryBackpressureStore();
  private readonly failClosed: boolean;
  private readonly replicasHint: number;
  private readonly tokenPrefix = randomBytes(6).toString('hex');
  private tokens = 0;
  /** The lease of each name's slots, from its last acquire: how long a `release` may wait. */
  private readonly leaseMs = new Map<string, number>();

  constructor(
    client: RedisClient | RedisConnectionSpec | RedisBackend,
    options: RedisBackpressureStoreOptions = {},
  ) {
    super();
    const { failClosed = false, replicasHint = 1, ...backendOptions } = options;
    checkInteger('RedisBackpressureStore: replicasHint', replicasHint, 1);
    this.failClosed = failClosed;
    this.replicasHint = replicasHint;
    this.backend = RedisBackend.of(client, backendOptions);
  }

  acquire(
    name: string,
    config: BackpressureConfig,
  ): BackpressureAcquisition | Promise<BackpressureAcquisition> {
    if (!this.backend.available) return this.acquireLocally(name, config);
    if (this.leaseMs.get(name) !== config.leaseMs) this.leaseMs.set(name, config.leaseMs);
    const token = `${this.tokenPrefix}:${++this.tokens}`;
    const args = [token, config.capacity, Math.ceil(config.leaseMs), WAIT_FLAG_MS];
    const undo = this.releaseOf(name, token, config.leaseMs);
    return this.backend.run(BP_ACQUIRE, this.keys(name), args, undo).then(
      (reply) => toAcquisition(reply as AcquireReply, token),
      () => this.afterFailure(name, config),
    );
  }

  release(name: string, token: string): number | Promise<number> {
    if (token.startsWith(LOCAL)) return this.local.release(name, token.slice(LOCAL.length));
    const args = [token, this.channel(name)];
    // Delivered even if Redis is briefly away: the slot would otherwise stay taken (and callers
    // be shed) until its lease lapsed.
    const leaseMs = this.leaseMs.get(name) ?? DEFAULT_BACKPRESSURE_OPTIONS.leaseMs;
    const keys = this.keys(name);
    return this.backend.settle(BP_RELEASE, keys, args, leaseMs, token) as Promise<number>;
  }

  renew(name: string, token: string, config: BackpressureConfig): boolean | Promise<boolean> {
    if (token.startsWith(LOCAL)) return this.local.renew(name, token.slice(LOCAL.length));
    const args = [token, Math.ceil(config.leaseMs)];
    const lease = { primitive: 'backpressure', name, token } as const;
    return this.backend.renew(BP_RENEW, [this.keys(name)[0]], args, lease);
  }

  depth(name: string): number | Promise<number> {
    if (!this.backend.available) return this.local.depth(name);
    return this.backend.run(BP_DEPTH, [this.keys(name)[0]], []).then(
      (reply) => reply as number,
      () => this.local.depth(name),
    );
  }

  /**
   * Calls `listener` when a slot of `name` is released anywhere in the fleet while someone
   * waits for one, so waiting callers retry at once rather than at their next poll.
   */
  override watchReleases(name: string, listener: () => void): ChannelListener {
    return this.backend.listen(this.channel(name), listener);
  }

  onApplicationShutdown(): Promise<void> {
    return this.backend.close();
  }

  private keys(name: string): string[] {
    return [this.backend.key('bp', name, 'h'), this.backend.key('bp', name, 'w')];
  }

  /** Frees a slot that may have been granted to an acquire whose reply was lost. */
  private releaseOf(name: string, token: string, leaseMs: number): Undo {
    return {
      script: BP_RELEASE,
      keys: this.keys(name),
      args: [token, this.channel(name)],
      maxAgeMs: leaseMs,
    };
  }

  private channel(name: string): string {
    return this.backend.channel(`bp:${name}:released`);
  }

  /**
   * One failed acquire while Redis still counts as healthy is refused: a local slot on top of
   * the fleet's cap would break it over a single slow reply. Degraded mode falls back locally.
   */
  private afterFailure(name: string, config: BackpressureConfig): BackpressureAcquisition {
    if (this.backend.degraded) return this.acquireLocally(name, config);
    return {
      granted: false,
      depth: config.capacity,
      retryAfterMs: this.backend.options.operationTimeoutMs,
    };
  }

  /** Redis is unavailable: a local share of the cap, or nothing at all (`failClosed`). */
  private acquireLocally(name: string, config: BackpressureConfig): BackpressureAcquisition {
    if (this.failClosed) {
      return {
        granted: false,
        depth: config.capacity,
        retryAfterMs: this.backend.options.degradedCooldownMs,
      };
    }
    const capacity = Math.max(1, Math.floor(config.capacity / this.replicasHint));
    const acquisition = this.local.acquire(name, { ...config, capacity });
    return acquisition.granted
      ? { ...acquisition, token: `${LOCAL}${acquisition.token}` }
      : acquisition;
  }
}

function toAcquisition(
  [granted, depth, retryAfterMs]: AcquireReply,
  token: string,
): BackpressureAcquisition {
  if (granted === 1) return { granted: true, token, depth };
  return { granted: false, depth, retryAfterMs: Math.max(1, retryAfterMs) };
}
