import { createHash } from 'node:crypto';
import type { OnApplicationShutdown } from '@nestjs/common';
import { checkDuration, checkInteger, checkNumber, checkObject } from '../core/validate.js';
import {
  DedupeStore,
  type DedupeClaim,
  type DedupeClaimRequest,
  type DedupeCompleteRequest,
  type DedupeEntry,
  type DedupeFailRequest,
  type DedupeNamespace,
  type DedupeRenewRequest,
  type DedupeSettlement,
} from '../dedupe/dedupe.store.js';
import { InMemoryDedupeStore } from '../dedupe/in-memory-dedupe.store.js';
import { ClaimWatch, type OwnerCheck, type PeekReply } from './claim-watch.js';
import {
  DedupeSerializationError,
  EnvelopeCodec,
  jsonDedupeSerializer,
  TOO_LARGE_ENVELOPE,
  type DedupeSerializer,
} from './dedupe-serializer.js';
import {
  DD_CLAIM,
  DD_COMPLETE,
  DD_FAIL,
  DD_FORGET,
  DD_OWNER_ALIVE,
  DD_PEEK,
  DD_RENEW,
  DD_SIZE,
} from './lua/dedupe.lua.js';
import { aliveKey, ownerOf, ProcessHeartbeat } from './process-heartbeat.js';
import { RedisBackend, type RedisConnectionSpec, type Undo } from './redis-backend.js';
import type { RedisClient } from './redis-client.js';
import type { RedisBackendOptions } from './redis-options.js';
import { RedisUnavailableError } from './redis-unavailable.error.js';

/**
 * Options of `RedisDedupeStore`. The backend options apply only when the store creates its own
 * backend (it was given a client or a connection spec, not a `RedisBackend`).
 *
 * @publicApi
 */
export interface RedisDedupeStoreOptions extends RedisBackendOptions {
  /**
   * How results travel between processes; Redis holds exactly what it produces (plaintext
   * JSON by default), so a serializer that encrypts keeps results unreadable there.
   * @default jsonDedupeSerializer
   */
  serializer?: DedupeSerializer;
  /**
   * The largest serialised result shared through Redis, in bytes. A larger one goes to the
   * owner's own callers only: it is not cached, and each process waiting for it runs the call
   * itself (once per process), so a huge payload never slows Redis down into degraded mode.
   * @default 1_048_576 (1 MiB)
   */
  maxValueBytes?: number;
  /**
   * How long the result of an execution that is not cached (`ttlMs` 0) stays readable by the
   * callers that waited for it but missed its message. @default 5000
   */
  resultGraceMs?: number;
  /** First interval of a waiting caller's safety-net poll; it doubles up to `pollMaxMs`. @default 50 */
  pollMinMs?: number;
  /**
   * The longest interval of that poll; while the awaited owner heartbeats, its `heartbeatMs`
   * caps it too. @default 1000
   */
  pollMaxMs?: number;
  /**
   * How often this process tells Redis it is alive (one key, one write per interval, whatever
   * the number of claims). A claim whose owner missed about three heartbeats (its alive key
   * lapsed), seen so on two looks 1.5 heartbeats apart, is taken over by a waiter then rather
   * than when its lease runs out: a crashed owner stalls identical calls for about five
   * heartbeats, not a lease. An integer >= 100. @default 1000
   */
  heartbeatMs?: number;
}

interface DedupeKeys {
  readonly lease: string;
  readonly result: string;
  readonly done: string;
  readonly index: string;
  readonly member: string;
  readonly channel: string;
}

type ClaimReply = ['c', string] | ['p', number, string] | ['o'];

/** Below it, heartbeats would cost every process more writes than its calls. */
const MIN_HEARTBEAT_MS = 100;
/** The default of `RedisDedupeStoreOptions.maxValueBytes`. */
const DEFAULT_MAX_VALUE_BYTES = 1_048_576;
/** Tokens of claims made by the in-process fallback while Redis was unavailable. */
const LOCAL = 'local:';
const noop = (): void => undefined;

/**
 * Dedupe claims and results shared by every process that uses the same Redis and key prefix:
 * one execution per key across the fleet. The owner holds a lease that the engine renews;
 * callers in other processes wait for its result (pub/sub, subscribe-then-check, backoff poll)
 * and receive the same value, deserialised; a crashed owner is taken over by one waiter once its
 * process heartbeat stops (or its lease lapses, whichever comes first). While Redis is down or
 * hung each process falls back to in-process dedupe.
 *
 * Round trips: owner 2 (claim, complete) + 1 per renewal, and 1 per heartbeat per process; cache
 * hit 1; a waiter 1 (claim) + 1 (SUBSCRIBE, once per key per process) + 2 (check, owner alive) +
 * 1 per poll + 1 per heartbeat (owner alive), none for the message itself.
 * A dedupe name lives in one Cluster slot (its index makes `size()` exact and atomic).
 *
 * @publicApi
 */
export class RedisDedupeStore extends DedupeStore implements OnApplicationShutdown {
  readonly backend: RedisBackend;
  private readonly local = new InMemoryDedupeStore();
  private readonly codec: EnvelopeCodec;
  private readonly graceMs: number;
  private readonly pollMinMs: number;
  private readonly pollMaxMs: number;
  /** Namespaces already warned about a result too large to share (once each). */
  private readonly warnedTooLarge = new Set<string>();
  private readonly watches = new Map<string, ClaimWatch>();
  /** This process's identity in its claim tokens, and its alive key. */
  private readonly heartbeat: ProcessHeartbeat;

  constructor(
    client: RedisClient | RedisConnectionSpec | RedisBackend,
    options: RedisDedupeStoreOptions = {},
  ) {
    super();
    const { serializer = jsonDedupeSerializer, resultGraceMs = 5000, ...rest } = options;
    const { pollMinMs = 50, pollMaxMs = 1000, ...more } = rest;
    const { maxValueBytes = DEFAULT_MAX_VALUE_BYTES, heartbeatMs = 1000, ...backendOptions } = more;
    checkObject('RedisDedupeStore: serializer', serializer);
    checkInteger('RedisDedupeStore: heartbeatMs', heartbeatMs, MIN_HEARTBEAT_MS);
    checkDuration('RedisDedupeStore: heartbeatMs', heartbeatMs, MIN_HEARTBEAT_MS);
    checkInteger('RedisDedupeStore: maxValueBytes', maxValueBytes, 1);
    checkNumber('RedisDedupeStore: resultGraceMs', resultGraceMs, 1);
    checkNumber('RedisDedupeStore: pollMinMs', pollMinMs, 1);
    checkNumber('RedisDedupeStore: pollMaxMs', pollMaxMs, pollMinMs);
    this.codec = new EnvelopeCodec(serializer, maxValueBytes);
    this.graceMs = Math.ceil(resultGraceMs);
    this.pollMinMs = pollMinMs;
    this.pollMaxMs = pollMaxMs;
    this.backend = RedisBackend.of(client, backendOptions);
    this.backend.onClose(() => this.watches.forEach((watch) => watch.cancel()));
    this.heartbeat = new ProcessHeartbeat(this.backend, heartbeatMs);
  }

  claim(request: DedupeClaimRequest): DedupeClaim | Promise<DedupeClaim> {
    if (!this.backend.available) return this.claimLocally(request);
    const { namespace, key, config } = request;
    const keys = dedupeKeys(this.backend, namespace, key);
    const token = this.heartbeat.nextToken();
    const args = [token, Math.ceil(config.leaseMs), keys.member];
    // A claim whose reply was lost may still hold the key: released once Redis answers again.
    const undo: Undo = {
      script: DD_FAIL,
      keys: [keys.lease, keys.done, keys.index],
      args: [token, '', this.graceMs, keys.channel, keys.member],
      maxAgeMs: config.leaseMs,
    };
    return this.backend.run(DD_CLAIM, [keys.lease, keys.result, keys.index], args, undo).then(
      (reply) => this.toClaim(keys, token, reply as ClaimReply),
      () => this.claimLocally(request),
    );
  }

  /**
   * Stores the result (the first one wins) and ends the claim; waiting processes receive it.
   * @throws {DedupeSerializationError} (as a rejection) when the serializer cannot represent
   * `value`; the claim is then released so that waiters run the call themselves.
   */
  complete(request: DedupeCompleteRequest): void | Promise<void> {
    if (isLocal(request)) return this.local.complete(withoutLocal(request));
    const { namespace, key, token, value, config } = request;
    let envelope: string;
    try {
      envelope = this.codec.encodeShared(value);
    } catch (cause) {
      return this.abandon(request, new DedupeSerializationError(namespace, key, cause));
    }
    // Too large to share: waiters are told to run it themselves, and nothing is cached.
    const tooLarge = envelope === TOO_LARGE_ENVELOPE;
    if (tooLarge) this.warnTooLarge(namespace);
    const ttlMs = tooLarge ? 0 : Math.ceil(request.ttlMs);
    const keys = dedupeKeys(this.backend, namespace, key);
    const args = [token, envelope, ttlMs, this.graceMs, keys.channel, keys.member];
    const redisKeys = [keys.lease, keys.result, keys.done, keys.index];
    // Delivered even if Redis is briefly away: waiting processes would otherwise wait out the
    // lease and run the call again.
    return this.backend.settle(DD_COMPLETE, redisKeys, args, config.leaseMs, token).then(noop);
  }

  /** Ends the claim without a result; waiting processes receive `error` (revived from JSON). */
  fail(request: DedupeFailRequest): void | Promise<void> {
    if (isLocal(request)) return this.local.fail({ ...withoutLocal(request), error: undefined });
    const { namespace, key, token, error, config } = request;
    const keys = dedupeKeys(this.backend, namespace, key);
    const envelope = error === undefined ? '' : this.codec.encodeError(error);
    const args = [token, envelope, this.graceMs, keys.channel, keys.member];
    const redisKeys = [keys.lease, keys.done, keys.index];
    return this.backend.settle(DD_FAIL, redisKeys, args, config.leaseMs, token).then(noop);
  }

  renew(request: DedupeRenewRequest): boolean | Promise<boolean> {
    if (isLocal(request)) return this.local.renew(withoutLocal(request));
    const { namespace, key, token, config } = request;
    const keys = dedupeKeys(this.backend, namespace, key);
    const args = [token, Math.ceil(config.leaseMs), keys.member];
    const lease = { primitive: 'dedupe', name: namespace, token } as const;
    return this.backend.renew(DD_RENEW, [keys.lease, keys.index], args, lease);
  }

  /** @throws {RedisUnavailableError} (as a rejection) when Redis cannot be reached. */
  async forget(entry: DedupeEntry): Promise<void> {
    this.local.forget(entry);
    const { namespace, key } = entry;
    const keys = dedupeKeys(this.backend, namespace, key);
    const redisKeys = [keys.lease, keys.result, keys.done, keys.index];
    try {
      await this.backend.run(DD_FORGET, redisKeys, [keys.channel, keys.member]);
    } catch (error) {
      throw new RedisUnavailableError(`dedupe "${namespace}": forget`, { cause: error });
    }
  }

  size(request: DedupeNamespace): number | Promise<number> {
    if (!this.backend.available) return this.local.size(request);
    const index = this.backend.key('dd', request.namespace, 'idx');
    return this.backend.run(DD_SIZE, [index], []).then(
      (reply) => reply as number,
      () => this.local.size(request),
    );
  }

  onApplicationShutdown(): Promise<void> {
    return this.backend.close();
  }

  private toClaim(keys: DedupeKeys, token: string, reply: ClaimReply): DedupeClaim {
    if (reply[0] === 'o') return { kind: 'owner', token };
    if (reply[0] === 'c') return { kind: 'cached', value: this.decodeValue(reply[1]) };
    const [, pttl, holder] = reply;
    return {
      kind: 'in-progress',
      leaseRemainingMs: Math.max(1, pttl),
      settled: this.watch(keys, holder),
    };
  }

  private claimLocally(request: DedupeClaimRequest): DedupeClaim {
    const claim = this.local.claim(request);
    return claim.kind === 'owner' ? { kind: 'owner', token: `${LOCAL}${claim.token}` } : claim;
  }

  /** One watch per claim per process: every caller waiting on that claim shares it. */
  private watch(keys: DedupeKeys, holder: string): Promise<DedupeSettlement> {
    const id = `${keys.channel}|${holder}`;
    const existing = this.watches.get(id);
    if (existing !== undefined) return existing.settled;
    const watch = new ClaimWatch(holder, {
      listen: (handler) => this.backend.listen(keys.channel, handler),
      peek: () =>
        this.backend.run(
          DD_PEEK,
          [keys.lease, keys.result, keys.done],
          [holder],
        ) as Promise<PeekReply>,
      settlementOf: (envelope) => this.settlementOf(envelope),
      pollMinMs: this.pollMinMs,
      pollMaxMs: this.pollMaxMs,
      ended: () => this.watches.delete(id),
      owner: this.ownerCheck(keys, holder),
    });
    this.watches.set(id, watch);
    return watch.start();
  }

  /** How a watch tells whether `holder`'s process crashed; none for an owner that does not heartbeat. */
  private ownerCheck(keys: DedupeKeys, holder: string): OwnerCheck | undefined {
    const owner = ownerOf(holder);
    if (owner === undefined) return undefined;
    const alive = aliveKey(this.backend, owner.processId);
    // The same compare-and-delete as the owner's own failure without an error: its waiters are
    // told at once, and claim again.
    const lapse = [holder, '', this.graceMs, keys.channel, keys.member];
    return {
      heartbeatMs: owner.heartbeatMs,
      alive: () => this.backend.run(DD_OWNER_ALIVE, [alive], []).then((reply) => reply === 1),
      lapse: () => this.backend.run(DD_FAIL, [keys.lease, keys.done, keys.index], lapse),
      justReconnected: () => this.heartbeat.justReconnected(),
    };
  }

  private settlementOf(envelope: string): DedupeSettlement {
    const decoded = this.codec.decode(envelope);
    if ('error' in decoded) return { completed: false, error: decoded.error };
    if ('tooLarge' in decoded) return { completed: false, runLocally: true };
    return { completed: true, value: decoded.value };
  }

  private decodeValue(envelope: string): unknown {
    const decoded = this.codec.decode(envelope);
    if ('error' in decoded) throw decoded.error;
    if ('tooLarge' in decoded) throw new Error('a result too large to share was cached');
    return decoded.value;
  }

  private warnTooLarge(namespace: string): void {
    if (this.warnedTooLarge.has(namespace)) return;
    this.warnedTooLarge.add(namespace);
    this.backend.emit({
      type: 'redis.warning',
      message: `dedupe "${namespace}": a result is over maxValueBytes (${this.codec.maxValueBytes} bytes): it goes to its own process's callers only, and other processes run the call themselves`,
    });
  }

  /** The result cannot travel: release the claim so waiters stop waiting, then report. */
  private abandon(request: DedupeCompleteRequest, error: DedupeSerializationError): Promise<void> {
    const { namespace, key, token, config } = request;
    return Promise.resolve(this.fail({ namespace, key, token, config, error }))
      .catch(noop)
      .then(() => Promise.reject(error));
  }
}

/** A claim made by the in-process fallback while Redis was unavailable. */
function isLocal(request: { readonly token: string }): boolean {
  return request.token.startsWith(LOCAL);
}

/** The request as the in-process fallback issued it: its own token. */
function withoutLocal<R extends { readonly token: string }>(request: R): R {
  return { ...request, token: request.token.slice(LOCAL.length) };
}

/**
 * Redis names carry the SHA-256 of the key, never the key itself: a custom key function may
 * return a prompt or an account id, and key names show up in monitoring and slow logs.
 */
function dedupeKeys(backend: RedisBackend, namespace: string, key: string): DedupeKeys {
  const member = createHash('sha256').update(key).digest('hex');
  const part = (suffix: string) => backend.key('dd', namespace, `${member}:${suffix}`);
  return {
    lease: part('l'),
    result: part('r'),
    done: part('d'),
    index: backend.key('dd', namespace, 'idx'),
    member,
    channel: backend.channel(`dd:${namespace}:${member}`),
  };
}
