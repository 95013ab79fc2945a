import { randomBytes } from 'node:crypto';
import type { OnApplicationShutdown } from '@nestjs/common';
import {
  BackpressureStore,
  type BackpressureAcquireRequest,
  type BackpressureAcquisition,
  type BackpressureHandOverRequest,
  type BackpressureNameRequest,
  type BackpressureRenewRequest,
  type BackpressureSlotRequest,
  type BackpressureWatchRequest,
} from '../backpressure/backpressure.store.js';
import { DEFAULT_BACKPRESSURE_OPTIONS } from '../backpressure/backpressure-options.js';
import { InMemoryBackpressureStore } from '../backpressure/in-memory-backpressure.store.js';
import { isPromiseLike, type MaybePromise } from '../core/maybe-promise.js';
import { checkInteger, checkNumber } from '../core/validate.js';
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
  /**
   * How long callers waiting in one process may be passed over by callers of other processes
   * (a process hands its freed slots to its own waiters first), in ms. Past it, the process
   * that has waited longest holds a place: the next slot freed anywhere is kept for it.
   * @default 250
   */
  maxPassOverMs?: number;
}

type AcquireReply = [number, number, number];

/** Tokens of slots taken from the in-process fallback while Redis was unavailable. */
const LOCAL = 'local:';
/** How long a refused acquire keeps "someone waits" set; waiting guards re-ask well within it. */
const WAIT_FLAG_MS = 1000;
const noop = () => undefined;

/**
 * A concurrency cap shared by every process that uses the same Redis and key prefix: at most
 * `capacity` live leases per name across the fleet. The guard renews each slot's lease while it
 * is held; a crashed holder's slot is reclaimed once its lease lapses; a renewal that finds its
 * lease gone reports it and never re-adds it. While Redis is down or hung each process falls
 * back to a local share of the cap, or sheds (`failClosed`). A slot passed to a waiting caller
 * goes through Redis (`handOver`): a slot of the fallback, or one whose lease was lost, leaves
 * circulation there.
 *
 * Round trips: acquire 1, release 1, hand-over 1, one renewal per held slot every
 * `leaseMs / 3`.
 *
 * @publicApi
 */
export class RedisBackpressureStore extends BackpressureStore implements OnApplicationShutdown {
  override readonly leasesExpire = true;
  readonly backend: RedisBackend;
  private readonly local = new InMemoryBackpressureStore();
  private readonly failClosed: boolean;
  private readonly replicasHint: number;
  private readonly maxPassOverMs: number;
  /** This store's tokens start with it; it is also its process's place in the fairness queue. */
  private readonly tokenPrefix = randomBytes(6).toString('hex');
  private tokens = 0;
  /** The lease of each name's slots, from its last acquire: how long a `release` may wait. */
  private readonly leaseMs = new Map<string, number>();

  constructor(
    client: RedisClient | RedisConnectionSpec | RedisBackend,
    options: RedisBackpressureStoreOptions = {},
  ) {
    super();
    const { failClosed = false, replicasHint = 1, maxPassOverMs = 250, ...rest } = options;
    checkInteger('RedisBackpressureStore: replicasHint', replicasHint, 1);
    checkNumber('RedisBackpressureStore: maxPassOverMs', maxPassOverMs, 0);
    this.failClosed = failClosed;
    this.replicasHint = replicasHint;
    this.maxPassOverMs = maxPassOverMs;
    this.backend = RedisBackend.of(client, rest);
  }

  acquire(request: BackpressureAcquireRequest): MaybePromise<BackpressureAcquisition> {
    return this.acquireFor(request, '');
  }

  /**
   * One script frees `token` and decides the waiting caller's grant. A token of the local
   * fallback is freed here and never reaches a caller again once Redis answers.
   */
  override handOver(request: BackpressureHandOverRequest): MaybePromise<BackpressureAcquisition> {
    const { name, token } = request;
    if (token.startsWith(LOCAL)) {
      this.local.release({ name, token: token.slice(LOCAL.length) });
      return this.acquireFor(request, '');
    }
    return this.acquireFor(request, token);
  }

  release(request: BackpressureSlotRequest): MaybePromise<number> {
    return this.releaseSlot(request);
  }

  renew({ name, token, config }: BackpressureRenewRequest): MaybePromise<boolean> {
    if (token.startsWith(LOCAL))
      return this.local.renew({ name, token: token.slice(LOCAL.length) });
    const args = [token, Math.ceil(config.leaseMs)];
    const lease = { primitive: 'backpressure', name, token } as const;
    return this.backend.renew(BP_RENEW, [this.keys(name)[0]], args, lease);
  }

  depth({ name }: BackpressureNameRequest): MaybePromise<number> {
    if (!this.backend.available) return this.local.depth({ name });
    return this.backend.run(BP_DEPTH, [this.keys(name)[0]], []).then(
      (reply) => reply as number,
      () => this.local.depth({ name }),
    );
  }

  /**
   * Calls `listener` when a slot of `name` is released anywhere in the fleet while someone
   * waits for one, so waiting callers retry at once rather than at their next poll.
   */
  override watchReleases({ name, listener }: BackpressureWatchRequest): ChannelListener {
    return this.backend.listen(this.channel(name), listener);
  }

  onApplicationShutdown(): Promise<void> {
    return this.backend.close();
  }

  // The public operations call these, never each other: a subclass that wraps one (to count
  // grants, say) sees each operation once.

  private acquireFor(
    request: BackpressureAcquireRequest,
    freeing: string,
  ): MaybePromise<BackpressureAcquisition> {
    if (this.backend.available) return this.decide(request, freeing);
    if (freeing !== '') this.releaseQuietly({ name: request.name, token: freeing });
    return this.acquireLocally(request);
  }

  private releaseSlot({ name, token }: BackpressureSlotRequest): MaybePromise<number> {
    if (token.startsWith(LOCAL))
      return this.local.release({ name, token: token.slice(LOCAL.length) });
    const args = [token, this.channel(name)];
    // Delivered even if Redis is briefly away: the slot would otherwise stay taken (and callers
    // be shed) until its lease lapsed.
    const leaseMs = this.leaseMs.get(name) ?? DEFAULT_BACKPRESSURE_OPTIONS.leaseMs;
    const keys = this.keys(name).slice(0, 2);
    return this.backend.settle(BP_RELEASE, keys, args, leaseMs, token) as Promise<number>;
  }

  /** The acquire script, freeing `freeing` first when it is not ''. */
  private decide(
    request: BackpressureAcquireRequest,
    freeing: string,
  ): Promise<BackpressureAcquisition> {
    const { name, config } = request;
    if (this.leaseMs.get(name) !== config.leaseMs) this.leaseMs.set(name, config.leaseMs);
    const token = `${this.tokenPrefix}:${++this.tokens}`;
    const args = [
      token,
      config.capacity,
      Math.ceil(config.leaseMs),
      WAIT_FLAG_MS,
      this.tokenPrefix,
      request.waiting === true ? 1 : 0,
      Math.ceil(this.maxPassOverMs),
      freeing,
      this.channel(name),
    ];
    const undo = this.releaseOf(name, token, config.leaseMs);
    return this.backend.run(BP_ACQUIRE, this.keys(name), args, undo).then(
      (reply) => toAcquisition(reply as AcquireReply, token),
      () => {
        // The freed slot may or may not have been freed: its release is queued until Redis answers.
        if (freeing !== '') this.releaseQuietly({ name, token: freeing });
        return this.afterFailure(request);
      },
    );
  }

  /** A release whose outcome nobody waits for; `settle` redelivers it if it fails. */
  private releaseQuietly(request: BackpressureSlotRequest): void {
    const released = this.releaseSlot(request);
    if (isPromiseLike(released)) released.then(noop, noop);
  }

  private keys(name: string): string[] {
    const key = (part: string) => this.backend.key('bp', name, part);
    return [key('h'), key('w'), key('q'), key('qa')];
  }

  /** Frees a slot that may have been granted to an acquire whose reply was lost. */
  private releaseOf(name: string, token: string, leaseMs: number): Undo {
    return {
      script: BP_RELEASE,
      keys: this.keys(name).slice(0, 2),
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
  private afterFailure(request: BackpressureAcquireRequest): BackpressureAcquisition {
    if (this.backend.degraded) return this.acquireLocally(request);
    return {
      granted: false,
      depth: request.config.capacity,
      retryAfterMs: this.backend.options.operationTimeoutMs,
    };
  }

  /** Redis is unavailable: a local share of the cap, or nothing at all (`failClosed`). */
  private acquireLocally({ name, config }: BackpressureAcquireRequest): BackpressureAcquisition {
    if (this.failClosed) {
      return {
        granted: false,
        depth: config.capacity,
        retryAfterMs: this.backend.options.degradedCooldownMs,
      };
    }
    const capacity = Math.max(1, Math.floor(config.capacity / this.replicasHint));
    const acquisition = this.local.acquire({ name, config: { ...config, capacity } });
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
