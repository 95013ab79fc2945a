/**
 * T13 and T14 of the distributed-systems research (../shared/research/distributed.md §4).
 *
 * T13, slow Redis: `CLIENT PAUSE <ms> WRITE` stalls every write and every EVAL/EVALSHA (even a
 * read-only script: the stores' scripts carry no `no-writes` flag) while plain reads still
 * answer, so the test can watch the state during the stall. `DEBUG SLEEP` would need
 * `--enable-debug-command`, which the harness (test/support/redis/redis-server.ts) does not pass.
 * A stalled client stays connected: what it sent runs when the pause ends, after the store gave
 * up on the reply.
 *
 * T14, eviction (a negative test): with an evicting `maxmemory-policy` the stores warn at
 * start-up, and an evicted lease or claim silently over-admits. That is why the README requires
 * `noeviction`.
 *
 * No unhandled rejection: Jest 30 fails the running test on one, so every test passing proves it.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { BackpressureGuard } from '../../lib/backpressure/backpressure.policy.js';
import { isBackpressureShedError } from '../../lib/backpressure/backpressure-shed.error.js';
import type {
  BackpressureAcquireRequest,
  BackpressureAcquisition,
  BackpressureHandOverRequest,
  BackpressureSlotRequest,
} from '../../lib/backpressure/backpressure.store.js';
import { CircuitBreakerPolicy } from '../../lib/circuit-breaker/circuit-breaker.policy.js';
import type {
  AdmittedCall,
  CircuitConfig,
} from '../../lib/circuit-breaker/circuit-breaker.store.js';
import type { EventSink, OrchestratorEvent } from '../../lib/core/events.js';
import { Chain } from '../../lib/core/layer.js';
import { isPromiseLike, type MaybePromise } from '../../lib/core/maybe-promise.js';
import { DedupeLayer } from '../../lib/dedupe/dedupe.layer.js';
import { Deduplicator } from '../../lib/dedupe/deduplicator.js';
import {
  RedisBackend,
  RedisBackpressureStore,
  RedisCircuitBreakerStore,
  RedisDedupeStore,
  type LuaScript,
  type RedisStoreEvent,
  type Undo,
} from '../../lib/redis/index.js';
import { waitUntil, type RedisServerHandle } from '../support/redis/index.js';
import { safeClient, serverTracker, storeTracker, testBackendOptions } from './helpers.js';
import { dedupeMember } from './dedupe-names.js';

/** operationTimeoutMs of every store here; the client's commandTimeout (SAFE_CLIENT) is 300. */
const BOUND_MS = 400;
const COMMAND_TIMEOUT_MS = 300;
const COOLDOWN_MS = 300;
/** Timer and event-loop lateness on a busy 2-core machine (as in the other Redis specs). */
const SLACK_MS = 250;
const PAUSE_MS = 1000;

/** Closed after the file even when a test fails half-way. */
const { track, closeAll } = storeTracker();
const servers = serverTracker();

let server: RedisServerHandle;
/** Reads (served during a write pause), CLIENT PAUSE / UNPAUSE, CONFIG, and T14's junk. */
let admin: Redis;
/** No commandTimeout: its write is answered the moment a pause ends. */
let writeProbe: Redis;
let originalConfig: Record<string, string>;

beforeAll(async () => {
  server = await servers.start();
  admin = server.client();
  writeProbe = server.client();
  originalConfig = {
    'maxmemory-policy': await configGet('maxmemory-policy'),
    maxmemory: await configGet('maxmemory'),
  };
});

// A failed test must not leave the server paused for the next one.
afterEach(() => admin.call('CLIENT', 'UNPAUSE').then(() => undefined));

afterAll(() => closeAll());

let counter = 0;
const fresh = (label: string) => `${label}-${++counter}`;

async function configGet(parameter: string): Promise<string> {
  const [, value] = (await admin.config('GET', parameter)) as string[];
  return value;
}

interface WritePause {
  pausedAt: number;
  /** When the pause ended, as a client saw it (performance.now()). */
  resumed: Promise<number>;
}

async function pauseWrites(ms = PAUSE_MS): Promise<WritePause> {
  await admin.call('CLIENT', 'PAUSE', String(ms), 'WRITE');
  const pausedAt = performance.now();
  const resumed = writeProbe
    .set('test:slow:probe', '1', 'PX', 60_000)
    .then(() => performance.now());
  return { pausedAt, resumed };
}

/** One round trip a store asked for; a `refused` one was answered at once (degraded mode). */
interface Run {
  op: string;
  startedAt: number;
  refused: boolean;
  ms?: number;
  ok?: boolean;
}

/** A backend that times every round trip, undos included (they go through `run` too). */
class TimedBackend extends RedisBackend {
  readonly runs: Run[] = [];

  override run(
    script: LuaScript,
    keys: readonly string[],
    args: readonly (string | number)[],
    undo?: Undo,
  ): Promise<unknown> {
    const op = script.command.replace(/^orchestrator_/, '').replace(/_[0-9a-f]{10}$/, '');
    // The same test as run()'s gate, at the same instant: false means "refused, no round trip".
    const entry: Run = { op, startedAt: performance.now(), refused: !this.available };
    this.runs.push(entry);
    const settle = (ok: boolean) => {
      entry.ms = performance.now() - entry.startedAt;
      entry.ok = ok;
    };
    return super.run(script, keys, args, undo).then(
      (reply) => {
        settle(true);
        return reply;
      },
      (error: unknown) => {
        settle(false);
        throw error;
      },
    );
  }

  unsettled(): Run[] {
    return this.runs.filter((run) => run.ms === undefined);
  }

  slowest(): number {
    return Math.max(0, ...this.runs.map((run) => run.ms ?? Infinity));
  }

  of(op: string): Run[] {
    return this.runs.filter((run) => run.op === op);
  }

  /** Round trips of `op` sent to Redis (not refused) while writes were paused. */
  stalled(op: string, pause: { pausedAt: number }, resumedAt: number): Run[] {
    return this.of(op).filter(
      (run) => !run.refused && run.startedAt >= pause.pausedAt && run.startedAt < resumedAt,
    );
  }
}

/** Store events with the time they were seen. */
function eventLog() {
  const events: Array<RedisStoreEvent & { at: number }> = [];
  return {
    events,
    onEvent: (event: RedisStoreEvent) => events.push({ ...event, at: performance.now() }),
    /** Types in order, without the per-failure `redis.error`s. */
    transitions: () => events.map((e) => e.type).filter((type) => type !== 'redis.error'),
    at: (type: RedisStoreEvent['type']) => events.find((e) => e.type === type)?.at,
  };
}

function timedBackend(log = eventLog()): TimedBackend {
  const options = testBackendOptions({
    operationTimeoutMs: BOUND_MS,
    degradedCooldownMs: COOLDOWN_MS,
    onEvent: log.onEvent,
  });
  return new TimedBackend(safeClient(server), options);
}

/** Three stalled round trips: the backend switches to degraded mode (degradeAfterFailures 3). */
async function degrade(backend: TimedBackend, roundTrip: () => unknown): Promise<void> {
  await Promise.all([roundTrip(), roundTrip(), roundTrip()]);
  expect(backend.degraded).toBe(true);
}

/** Sends a round trip until one is let through and answered, ending degraded mode. */
async function recover(backend: TimedBackend, roundTrip: () => unknown): Promise<number> {
  await waitUntil(
    async () => {
      await roundTrip();
      return !backend.degraded;
    },
    { timeoutMs: 3000, what: 'recovery from degraded mode' },
  );
  return performance.now();
}

/** Counts how often each Redis token is granted and released, to catch a double release. */
class CountingBackpressureStore extends RedisBackpressureStore {
  readonly granted = new Set<string>();
  readonly released = new Map<string, number>();

  override acquire(request: BackpressureAcquireRequest): MaybePromise<BackpressureAcquisition> {
    return this.noted(super.acquire(request));
  }

  /** A hand-over frees its token inside the script: counted as that token's release. */
  override handOver(request: BackpressureHandOverRequest): MaybePromise<BackpressureAcquisition> {
    this.count(request.token);
    return this.noted(super.handOver(request));
  }

  override release(request: BackpressureSlotRequest): MaybePromise<number> {
    this.count(request.token);
    return super.release(request);
  }

  private noted(answer: MaybePromise<BackpressureAcquisition>) {
    const note = (a: BackpressureAcquisition) => {
      if (a.granted && !a.token.startsWith('local:')) this.granted.add(a.token);
      return a;
    };
    return isPromiseLike(answer) ? answer.then(note) : note(answer);
  }

  private count(token: string): void {
    if (!token.startsWith('local:')) this.released.set(token, (this.released.get(token) ?? 0) + 1);
  }
}

function eventSink(): EventSink & { events: OrchestratorEvent[] } {
  const events: OrchestratorEvent[] = [];
  return { active: true, events, emit: (event) => events.push(event) };
}

function storeErrors(sink: { events: OrchestratorEvent[] }, operation: string): number {
  return sink.events.filter((e) => e.type === 'store.error' && e.operation === operation).length;
}

/** A deduplicated function on `store`, as one process of a fleet would run it. */
function dedupedCall(
  store: RedisDedupeStore,
  name: string,
  work: () => Promise<unknown>,
  options: { ttlMs: number; leaseMs: number; events?: EventSink },
) {
  // The key is the argument itself, so tests can address the Redis keys.
  const deduplicator = new Deduplicator(
    { ttlMs: options.ttlMs, leaseMs: options.leaseMs, key: (k: string) => k },
    store,
    { name, events: options.events },
  );
  const chain = new Chain([new DedupeLayer(deduplicator)], work, 'promise');
  return (key: string) => chain.run(undefined, [key]);
}

/** A call that runs until the test finishes it; counts its executions. */
function controlledWork() {
  const work = {
    executions: 0,
    finish: (_value: string): void => undefined,
    run: () => {
      work.executions++;
      return new Promise<string>((resolve) => (work.finish = resolve));
    },
  };
  return work;
}

const CIRCUIT: CircuitConfig = {
  threshold: 3,
  recoveryWindowMs: 2000,
  halfOpenMaxCalls: 1,
  probeLeaseMs: 1000,
};

function admitted(admission: unknown): AdmittedCall {
  const a = admission as AdmittedCall;
  if (!a.admitted) throw new Error('expected an admission');
  return a;
}

const shedOrPermit = (guard: BackpressureGuard) =>
  guard.acquire().then(
    (permit) => permit,
    (error: unknown) => {
      if (isBackpressureShedError(error)) return undefined;
      throw error;
    },
  );

const round = (ms: number) => Math.round(ms);

describe('T13 slow Redis: CLIENT PAUSE 1000 WRITE', () => {
  it('backpressure: acquire, release and renew settle within the bound; degraded then recovered; no double release; depth back to exactly 0', async () => {
    const name = fresh('bp');
    const holders = `test:{bp:${name}}:h`;
    const log = eventLog();
    const backend = timedBackend(log);
    // Degraded mode caps this process at floor(4 / 2) = 2 local slots.
    const store = track(new CountingBackpressureStore(backend, { replicasHint: 2 }));
    const config = { capacity: 4, leaseMs: 4500 };
    const localCap = 2;
    const guard = new BackpressureGuard(config, store, { name });
    // Connects outside the guard, whose renewal timer starts with its first slot.
    await store.depth({ name });

    // A slot held through the pause, renewed every 1500 ms from now on.
    const long = await guard.acquire();
    const heldAt = performance.now();
    // A slot released as the pause starts: a release certainly sent into it.
    const extra = await guard.acquire();

    let maxHolders = 0;
    let observing = true;
    const observer = (async () => {
      while (observing) {
        maxHolders = Math.max(maxHolders, await admin.zcard(holders));
        await delay(10);
      }
    })();

    let stop = false;
    let inFlight = 1;
    let maxInFlight = 1;
    let grants = 0;
    const acquireMs: number[] = [];
    const caller = async () => {
      while (!stop) {
        const started = performance.now();
        const permit = await shedOrPermit(guard);
        acquireMs.push(performance.now() - started);
        if (permit === undefined) {
          await delay(5);
          continue;
        }
        grants++;
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        await delay(20);
        inFlight--;
        permit.release();
      }
    };

    // Load first, so that slots are held (and their releases sent) as the pause starts. The
    // first renewal then falls 50 ms into the pause, before degraded mode (3 timeouts, ~300 ms).
    await delay(heldAt + 1250 - performance.now());
    const load = Promise.all(Array.from({ length: 6 }, caller));
    await delay(heldAt + 1450 - performance.now());
    const pause = await pauseWrites();
    extra.release();

    await waitUntil(() => !backend.available, { timeoutMs: 2000, what: 'degraded mode' });
    // Degraded: answered in-process, without a round trip.
    expect(isPromiseLike(store.depth({ name }))).toBe(false);
    const resumedAt = await pause.resumed;
    await waitUntil(() => log.at('redis.recovered') !== undefined, {
      timeoutMs: 3000,
      what: 'recovery',
    });
    const recoveryMs = log.at('redis.recovered')! - resumedAt;
    await delay(300);
    stop = true;
    await load;
    long.release();
    const releasedAt = performance.now();
    // Well before any lease could lapse (4500 ms): every slot was released, timed-out grants
    // were undone, and nothing is left for a lapse to clean up.
    await waitUntil(
      async () => (await store.depth({ name })) === 0 && (await admin.zcard(holders)) === 0,
      { timeoutMs: 1500, what: 'depth 0' },
    );
    const drainMs = performance.now() - releasedAt;
    observing = false;
    await observer;

    const stalled = (op: string) => backend.stalled(op, pause, resumedAt).length;
    console.log(
      `T13 backpressure: ${grants} grants, ${acquireMs.length - grants} sheds, ${backend.runs.length} round trips; ` +
        `stalled by the pause: ${stalled('bp_acquire')} acquire, ${stalled('bp_release')} release, ${stalled('bp_renew')} renew; ` +
        `slowest round trip ${round(backend.slowest())} ms, slowest guard.acquire ${round(Math.max(...acquireMs))} ms; ` +
        `pause ${round(resumedAt - pause.pausedAt)} ms, degraded ${round(log.at('redis.degraded')! - pause.pausedAt)} ms into it, ` +
        `recovered ${round(recoveryMs)} ms after it; depth 0 ${round(drainMs)} ms after the last release; ` +
        `max holders in Redis ${maxHolders}, max in flight here ${maxInFlight}`,
    );

    // The pause hit every kind of round trip, and each one gave up within the bound.
    expect(stalled('bp_acquire')).toBeGreaterThan(0);
    expect(stalled('bp_release')).toBeGreaterThan(0);
    expect(stalled('bp_renew')).toBeGreaterThan(0);
    expect(backend.unsettled()).toEqual([]);
    expect(backend.slowest()).toBeLessThan(BOUND_MS + SLACK_MS);
    expect(Math.max(...acquireMs)).toBeLessThan(BOUND_MS + SLACK_MS);
    // Degraded once during the pause, recovered by the first probe after it; the lease held
    // through the pause survived (no lease-lost event).
    expect(log.transitions()).toEqual(['redis.degraded', 'redis.recovered']);
    expect(log.at('redis.degraded')!).toBeGreaterThan(pause.pausedAt);
    expect(log.at('redis.degraded')!).toBeLessThan(resumedAt);
    expect(recoveryMs).toBeLessThan(COOLDOWN_MS + BOUND_MS + SLACK_MS);
    // Never more live leases than capacity; in this process at most the slots still held in
    // Redis plus the local share of degraded mode (the README's degraded behaviour).
    expect(maxHolders).toBeLessThanOrEqual(config.capacity);
    expect(maxInFlight).toBeLessThanOrEqual(config.capacity + localCap);
    // No token released twice, every Redis grant released exactly once.
    expect([...store.released.values()].filter((n) => n !== 1)).toEqual([]);
    expect([...store.released.keys()].sort()).toEqual([...store.granted].sort());
    expect(grants).toBeGreaterThan(20);
  });

  it('backpressure: a release refused in degraded mode is replayed once Redis answers: the slot frees long before its lease lapses, and nobody is shed', async () => {
    const name = fresh('bp-degraded-release');
    const holders = `test:{bp:${name}}:h`;
    const backend = timedBackend();
    const store = track(new CountingBackpressureStore(backend));
    const config = { capacity: 2, leaseMs: 3000 };
    const guard = new BackpressureGuard(config, store, { name });
    await store.depth({ name });
    const held = await guard.acquire();
    const heldAt = performance.now();
    const [token] = [...store.granted];

    const pause = await pauseWrites();
    await degrade(backend, () => store.depth({ name }));
    held.release();
    const resumedAt = await pause.resumed;
    const recoveredAt = await recover(backend, () => store.depth({ name }));
    await waitUntil(async () => (await admin.zscore(holders, token)) === null, {
      timeoutMs: 1000,
      what: 'the queued release to reach Redis',
    });
    const freedAfterMs = performance.now() - heldAt;
    const depthAfterRecovery = await store.depth({ name });
    const permits = await Promise.all([shedOrPermit(guard), shedOrPermit(guard)]);
    const grantedAfterRecovery = permits.filter((permit) => permit !== undefined).length;
    permits.forEach((permit) => permit?.release());
    console.log(
      `T13 release in degraded mode: refused without a round trip, queued; recovered ${round(recoveredAt - resumedAt)} ms after the pause; ` +
        `slot freed ${round(freedAfterMs)} ms after it was granted (leaseMs ${config.leaseMs}); then depth ${depthAfterRecovery}, ` +
        `${grantedAfterRecovery} of ${config.capacity} slots grantable`,
    );

    const releases = backend.of('bp_release');
    expect(releases[0]).toMatchObject({ refused: true, ok: false });
    expect(releases.some((run) => run.ok === true)).toBe(true); // the replay
    expect(store.released.get(token)).toBe(1); // the guard released it once
    expect(depthAfterRecovery).toBe(0);
    expect(grantedAfterRecovery).toBe(config.capacity);
    // Freed by the replay, not by the lease lapsing.
    expect(freedAfterMs).toBeLessThan(config.leaseMs - 1000);
  });

  it('dedupe: a complete stalled by the pause settles within the bound and still lands: the owner is not delayed, the waiting process gets the result, one execution', async () => {
    const name = fresh('dd');
    const logA = eventLog();
    const backendA = timedBackend(logA);
    const backendB = timedBackend();
    const a = track(new RedisDedupeStore(backendA));
    // B's safety-net poll is slow so that its only checks are before and after the pause (a
    // check during it would fail, and B would run the call itself: the documented fallback).
    const b = track(new RedisDedupeStore(backendB, { pollMinMs: 5000, pollMaxMs: 5000 }));
    const sinkA = eventSink();
    const work = controlledWork();
    const options = { ttlMs: 10_000, leaseMs: 6000 };
    const inA = dedupedCall(a, name, work.run, { ...options, events: sinkA });
    const inB = dedupedCall(b, name, work.run, options);

    const callA = inA('k');
    await waitUntil(() => work.executions === 1, { what: 'A running the call' });
    const callB = inB('k').then((value) => ({ value, at: performance.now() }));
    await waitUntil(() => backendB.of('dd_peek').some((run) => run.ok), {
      what: 'B waiting, subscribed and checked',
    });

    const pause = await pauseWrites();
    await delay(100);
    const finishedAt = performance.now();
    work.finish('the answer');
    const ownerValue = await callA;
    const ownerMs = performance.now() - finishedAt;
    const resumedAt = await pause.resumed;
    const waiter = await callB;
    const later = await dedupedCall(b, name, work.run, options)('k');

    const [complete] = backendA.of('dd_complete');
    console.log(
      `T13 dedupe complete: the owner's caller got its value ${ownerMs.toFixed(1)} ms after the call ended; ` +
        `complete gave up after ${round(complete.ms!)} ms (stalled) and ran when the pause ended; ` +
        `the waiting process got the result ${round(waiter.at - resumedAt)} ms after the pause; executions ${work.executions}`,
    );

    expect(ownerValue).toBe('the answer');
    expect(ownerMs).toBeLessThan(100);
    // The stalled complete failed; it is replayed (idempotent) until Redis answers.
    expect(complete).toMatchObject({ refused: false, ok: false });
    expect(complete.startedAt).toBeGreaterThan(pause.pausedAt);
    expect(complete.ms!).toBeGreaterThan(COMMAND_TIMEOUT_MS - 50);
    expect(complete.ms!).toBeLessThan(BOUND_MS + SLACK_MS);
    expect(storeErrors(sinkA, 'complete')).toBe(1);
    // The replays stall too while writes are paused, so A may go degraded; it always recovers.
    expect(['', 'redis.degraded,redis.recovered']).toContain(logA.transitions().join());
    // The stalled complete ran when writes resumed: published to B, and cached.
    expect(waiter.value).toBe('the answer');
    expect(waiter.at - resumedAt).toBeLessThan(SLACK_MS);
    expect(later).toBe('the answer');
    expect(work.executions).toBe(1);
    expect([...backendA.unsettled(), ...backendB.unsettled()]).toEqual([]);
    expect(Math.max(backendA.slowest(), backendB.slowest())).toBeLessThan(BOUND_MS + SLACK_MS);
  });

  it('dedupe: a complete refused in degraded mode is replayed once Redis answers: the waiting process gets the result, one execution', async () => {
    const name = fresh('dd-degraded-complete');
    const backendA = timedBackend();
    const backendB = timedBackend();
    const a = track(new RedisDedupeStore(backendA));
    const b = track(new RedisDedupeStore(backendB, { pollMinMs: 5000, pollMaxMs: 5000 }));
    const sinkA = eventSink();
    const work = controlledWork();
    const options = { ttlMs: 10_000, leaseMs: 3000 };
    const inA = dedupedCall(a, name, work.run, { ...options, events: sinkA });
    const inB = dedupedCall(
      b,
      name,
      async () => {
        work.executions++;
        return 'B ran it';
      },
      options,
    );

    const callA = inA('k');
    await waitUntil(() => work.executions === 1, { what: 'A running the call' });
    const claimedAt = performance.now();
    const callB = inB('k').then((value) => ({ value, at: performance.now() }));
    await waitUntil(() => backendB.of('dd_peek').some((run) => run.ok), {
      what: 'B waiting, subscribed and checked',
    });

    const pause = await pauseWrites();
    await degrade(backendA, () => a.size({ namespace: name }));
    work.finish('the answer');
    expect(await callA).toBe('the answer');
    const resumedAt = await pause.resumed;
    const recoveredAt = await recover(backendA, () => a.size({ namespace: name }));
    const waiter = await callB;
    const resultStored = await admin.exists(`test:{dd:${name}}:${dedupeMember('k')}:r`);
    const claimHeld = await admin.exists(`test:{dd:${name}}:${dedupeMember('k')}:l`);
    console.log(
      `T13 complete in degraded mode: refused without a round trip, queued; recovered ${round(recoveredAt - resumedAt)} ms after the pause; ` +
        `the waiting process resolved ${round(waiter.at - recoveredAt)} ms after recovery (${round(waiter.at - claimedAt)} ms after A claimed, ` +
        `leaseMs ${options.leaseMs}) with "${waiter.value}"; result stored ${resultStored}, claim held ${claimHeld}; executions ${work.executions}`,
    );

    const completes = backendA.of('dd_complete');
    expect(completes[0]).toMatchObject({ refused: true });
    expect(completes.some((run) => run.ok === true)).toBe(true); // the replay
    expect(storeErrors(sinkA, 'complete')).toBe(1);
    expect(waiter.value).toBe('the answer');
    expect(work.executions).toBe(1);
    expect(resultStored).toBe(1);
    expect(claimHeld).toBe(0);
    // Settled by the replay, well before the lease would have lapsed.
    expect(waiter.at - claimedAt).toBeLessThan(options.leaseMs - 1000);
  });

  it('circuit breaker: admit and record settle within the bound and fall back locally; degraded then recovered; each stalled record counts exactly once', async () => {
    const log = eventLog();
    const backend = timedBackend(log);
    const store = track(new RedisCircuitBreakerStore(backend));
    const circuit = fresh('cb');
    const first = admitted(await store.admit({ circuit, config: CIRCUIT }));
    const second = admitted(await store.admit({ circuit, config: CIRCUIT }));
    const policy = new CircuitBreakerPolicy(fresh('cb-load'), CIRCUIT, store);
    await policy.call(async () => 'warm');

    const pause = await pauseWrites();
    const recordedFrom = performance.now();
    const records = [first, second].map((admission) =>
      Promise.resolve(
        store.record({ circuit, config: CIRCUIT, admission, outcome: 'failure' }),
      ).then((t) => ({
        transition: t,
        ms: performance.now() - recordedFrom,
      })),
    );
    let stop = false;
    const callMs: number[] = [];
    const caller = async () => {
      while (!stop) {
        const started = performance.now();
        await policy.call(async () => 'ok');
        callMs.push(performance.now() - started);
        await delay(5);
      }
    };
    const load = Promise.all(Array.from({ length: 10 }, caller));
    const recorded = await Promise.all(records);
    await waitUntil(() => !backend.available, { timeoutMs: 2000, what: 'degraded mode' });
    // Degraded: the local breaker answers, without a round trip.
    expect(isPromiseLike(store.admit({ circuit, config: CIRCUIT }))).toBe(false);
    const resumedAt = await pause.resumed;
    await waitUntil(() => log.at('redis.recovered') !== undefined, {
      timeoutMs: 3000,
      what: 'recovery',
    });
    const recoveryMs = log.at('redis.recovered')! - resumedAt;
    stop = true;
    await load;
    const snapshot = await store.snapshot({ circuit, config: CIRCUIT });
    const third = admitted(await store.admit({ circuit, config: CIRCUIT }));
    const trip = await store.record({
      circuit,
      config: CIRCUIT,
      admission: third,
      outcome: 'failure',
    });

    const stalled = (op: string) => backend.stalled(op, pause, resumedAt).length;
    console.log(
      `T13 circuit: records stalled ${recorded.map((r) => round(r.ms)).join(', ')} ms; ${callMs.length} calls, slowest ${round(Math.max(...callMs))} ms; ` +
        `stalled ${stalled('cb_admit')} admit, ${stalled('cb_record')} record; slowest round trip ${round(backend.slowest())} ms; ` +
        `recovered ${round(recoveryMs)} ms after the pause; failures in Redis afterwards ${snapshot.failures}`,
    );

    // Each stalled record gave up within the bound and was counted by the local breaker.
    for (const { transition, ms } of recorded) {
      expect(transition).toBeUndefined();
      expect(ms).toBeGreaterThan(COMMAND_TIMEOUT_MS - 50);
      expect(ms).toBeLessThan(BOUND_MS + SLACK_MS);
    }
    expect(stalled('cb_admit')).toBeGreaterThan(0);
    expect(stalled('cb_record')).toBeGreaterThanOrEqual(2);
    expect(backend.unsettled()).toEqual([]);
    expect(backend.slowest()).toBeLessThan(BOUND_MS + SLACK_MS);
    // A call costs at most one bounded round trip: once degraded, admit and record are local.
    expect(Math.max(...callMs)).toBeLessThan(BOUND_MS + SLACK_MS);
    expect(log.transitions()).toEqual(['redis.degraded', 'redis.recovered']);
    expect(recoveryMs).toBeLessThan(COOLDOWN_MS + BOUND_MS + SLACK_MS);
    // The two stalled records ran once each when writes resumed: not lost, not doubled, same epoch.
    expect(snapshot).toMatchObject({ state: 'closed', failures: 2, epoch: first.epoch });
    expect(trip).toMatchObject({ from: 'closed', to: 'open' });
  });
});

describe('T14 eviction (negative test): why maxmemory-policy must be noeviction', () => {
  afterEach(async () => {
    await admin.config('SET', 'maxmemory', originalConfig.maxmemory);
    await admin.config('SET', 'maxmemory-policy', originalConfig['maxmemory-policy']);
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', 'test:junk:*', 'COUNT', 1000);
      if (keys.length > 0) await admin.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  });

  it.each(['allkeys-lru', 'volatile-lru'])(
    'warns once at start-up, through the logger and as an event, when the policy is %s',
    async (policy) => {
      await admin.config('SET', 'maxmemory-policy', policy);
      const log = eventLog();
      const options = testBackendOptions({ onEvent: log.onEvent });
      track(new RedisBackpressureStore(safeClient(server), options));

      await waitUntil(() => options.warnings.length > 0, { what: 'the start-up warning' });

      const message = expect.stringMatching(
        new RegExp(
          `^maxmemory-policy is "${policy}" on 127\\.0\\.0\\.1:${server.port}: Redis may evict leases .*silently over-admits.*noeviction$`,
        ),
      );
      // A safe client: the eviction policy is the only warning.
      expect(options.warnings).toEqual([message]);
      expect(log.events).toEqual([expect.objectContaining({ type: 'redis.warning', message })]);
    },
  );

  it('an evicted lease lets more than capacity holders in; an evicted claim lets a key run twice', async () => {
    // volatile-lru evicts only keys with a TTL, and every key of the stores has one.
    await admin.config('SET', 'maxmemory-policy', 'volatile-lru');
    const logA = eventLog();
    const a = track(
      new RedisBackpressureStore(safeClient(server), testBackendOptions({ onEvent: logA.onEvent })),
    );
    const b = track(new RedisBackpressureStore(safeClient(server), testBackendOptions()));
    const dedupeA = track(new RedisDedupeStore(safeClient(server), testBackendOptions()));
    const dedupeB = track(new RedisDedupeStore(safeClient(server), testBackendOptions()));
    const name = fresh('evicted');
    const holders = `test:{bp:${name}}:h`;
    const claimKey = `test:{dd:${name}}:${dedupeMember('k')}:l`;
    // Long leases: nothing lapses or is renewed during the test.
    const config = { capacity: 2, leaseMs: 60_000 };
    const slots = [await a.acquire({ name, config }), await a.acquire({ name, config })];
    const guardB = new BackpressureGuard(config, b, { name });
    const dedupeConfig = { leaseMs: 60_000, maxEntries: 100 };
    const claimA = await dedupeA.claim({ namespace: name, key: 'k', config: dedupeConfig });
    const before = {
      slotB: await shedOrPermit(guardB),
      claimB: (await dedupeB.claim({ namespace: name, key: 'k', config: dedupeConfig })).kind,
    };
    expect(slots.every((slot) => slot.granted)).toBe(true);
    expect(claimA.kind).toBe('owner');
    expect(before).toEqual({ slotB: undefined, claimB: 'in-progress' });

    // Fill memory with junk (with a TTL, like any cache) until both keys are evicted. EXISTS
    // does not touch a key's LRU clock.
    const evictedBefore = Number(/evicted_keys:(\d+)/.exec(await admin.info('stats'))![1]);
    const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
    await admin.config('SET', 'maxmemory', String(used + 2_000_000));
    const junk = 'x'.repeat(1000);
    let written = 0;
    const fillFrom = performance.now();
    while ((await admin.exists(holders, claimKey)) > 0 && written < 100_000) {
      const batch = admin.pipeline();
      for (let i = 0; i < 500; i++) batch.set(`test:junk:${written++}`, junk, 'PX', 60_000);
      await batch.exec();
    }
    const fillMs = performance.now() - fillFrom;
    const evicted =
      Number(/evicted_keys:(\d+)/.exec(await admin.info('stats'))![1]) - evictedBefore;
    expect(await admin.exists(holders, claimKey)).toBe(0);

    // A still runs two calls in the cap of 2, and B is granted two more.
    const permitsB = [await shedOrPermit(guardB), await shedOrPermit(guardB)];
    const grantedToB = permitsB.filter((permit) => permit !== undefined).length;
    const running = slots.length + grantedToB;
    const depthSeen = await b.depth({ name });
    // A second owner of the dedupe key: the call runs twice.
    const claimB = await dedupeB.claim({ namespace: name, key: 'k', config: dedupeConfig });
    // A learns of the loss only at its next renewal, after the damage.
    const renewed = slots[0].granted && (await a.renew({ name, token: slots[0].token, config }));
    console.log(
      `T14 eviction: ${written} junk keys in ${round(fillMs)} ms evicted ${evicted} keys, the lease and the claim among them; ` +
        `then ${running} holders for a capacity of ${config.capacity} (Redis counts ${depthSeen}); ` +
        `a second dedupe owner: ${claimB.kind}; A's renewal: ${renewed}`,
    );

    expect(evicted).toBeGreaterThan(0);
    expect(grantedToB).toBe(2);
    expect(running).toBe(4);
    expect(running).toBeGreaterThan(config.capacity);
    expect(depthSeen).toBe(2);
    expect(claimB.kind).toBe('owner');
    expect(renewed).toBe(false);
    expect(logA.events.filter((e) => e.type === 'redis.lease-lost')).toEqual([
      expect.objectContaining({ primitive: 'backpressure', name }),
    ]);
    permitsB.forEach((permit) => permit?.release());
  });
});

describe('hygiene', () => {
  it('left a TTL on every key, and the server config as it found it', async () => {
    expect(await servers.keysWithoutTtl()).toEqual([]);
    expect(await configGet('maxmemory-policy')).toBe(originalConfig['maxmemory-policy']);
    expect(await configGet('maxmemory')).toBe(originalConfig.maxmemory);
  });
});
