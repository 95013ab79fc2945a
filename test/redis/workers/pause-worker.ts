import {
  BackpressureGuard,
  type BackpressurePermit,
} from '../../../lib/backpressure/backpressure.policy.js';
import type {
  AdmittedCall,
  CircuitAdmission,
  CircuitConfig,
} from '../../../lib/circuit-breaker/circuit-breaker.store.js';
import type { EventSink, OrchestratorEvent } from '../../../lib/core/events.js';
import { Chain } from '../../../lib/core/layer.js';
import { DedupeLayer } from '../../../lib/dedupe/dedupe.layer.js';
import { Deduplicator } from '../../../lib/dedupe/deduplicator.js';
import {
  RedisBackend,
  RedisBackpressureStore,
  RedisCircuitBreakerStore,
  RedisDedupeStore,
  type RedisStoreEvent,
} from '../../../lib/redis/index.js';
import type { WorkerInit } from '../fleet.js';
import { connect, emitEvent, report, serve } from './worker-runtime.js';

/**
 * A worker for the pause tests (fleet-pause.spec.ts): the three Redis stores over one backend,
 * every store event and every `store.error` of the primitives forwarded to the parent (so it can
 * count lost leases per process), and executions that run until the parent says so.
 */

interface PauseInit extends WorkerInit {
  circuit: CircuitConfig;
}

let backend: RedisBackend;
let bpStore: RedisBackpressureStore;
let ddStore: RedisDedupeStore;
let cbStore: RedisCircuitBreakerStore;
let circuitConfig: CircuitConfig;

/** Renewals of backpressure slots, per guard name: how many were answered held or lost. */
const renewals = new Map<string, { held: number; lost: number }>();
const guards = new Map<string, BackpressureGuard>();
const permits = new Map<string, BackpressurePermit>();
const chains = new Map<string, Chain>();
/** Executions waiting for `ddFinish`, by key. */
const finishers = new Map<string, (value: unknown) => void>();
/** Calls started by `ddOwn`, by key, until `ddOwnResult` reads them. */
const owned = new Map<string, Promise<unknown>>();
const admissions = new Map<number, AdmittedCall>();
let nextAdmission = 0;

/** Events go to the parent as plain data: errors become their message. */
function forward(source: string, event: RedisStoreEvent | OrchestratorEvent): void {
  const { error, ...rest } = event as { error?: unknown };
  emitEvent({
    source,
    ...rest,
    ...(error === undefined ? {} : { error: String((error as Error)?.message ?? error) }),
  });
}

/** The primitives' own sink: only store errors (a lost renewal is one) matter here. */
const storeErrors: EventSink = {
  active: true,
  emit: (event) => {
    if (event.type === 'store.error') forward('primitive', event);
  },
};

function guardFor(name: string, leaseMs: number, maxWaitMs: number): BackpressureGuard {
  const id = `${name}|${leaseMs}|${maxWaitMs}`;
  let guard = guards.get(id);
  if (guard === undefined) {
    guard = new BackpressureGuard({ capacity: 1, leaseMs, maxWaitMs }, bpStore, {
      name,
      events: storeErrors,
    });
    guards.set(id, guard);
  }
  return guard;
}

/** The work every caller of a key shares: it runs until `ddFinish` gives it its value. */
async function execute(key: string): Promise<unknown> {
  await report({ type: 'exec', key, pid: process.pid });
  return new Promise((resolve) => finishers.set(key, resolve));
}

function chainFor(name: string, leaseMs: number, ttlMs: number): Chain {
  const id = `${name}|${leaseMs}|${ttlMs}`;
  let chain = chains.get(id);
  if (chain === undefined) {
    const deduplicator = new Deduplicator({ leaseMs, ttlMs, key: (key: string) => key }, ddStore, {
      name,
      events: storeErrors,
    });
    chain = new Chain([new DedupeLayer(deduplicator)], execute, 'promise');
    chains.set(id, chain);
  }
  return chain;
}

function summarize(admission: CircuitAdmission) {
  return {
    admitted: admission.admitted,
    probe: admission.admitted && admission.probe,
    epoch: admission.admitted ? admission.epoch : undefined,
  };
}

serve(
  (init) => {
    circuitConfig = (init as PauseInit).circuit;
    backend = new RedisBackend(connect(init.connection), {
      keyPrefix: init.keyPrefix,
      checkClient: false,
      operationTimeoutMs: 500,
      degradedCooldownMs: 300,
      logger: { warn: () => undefined },
      onEvent: (event) => forward('backend', event),
    });
    bpStore = new RedisBackpressureStore(backend);
    ddStore = new RedisDedupeStore(backend);
    cbStore = new RedisCircuitBreakerStore(backend);
    // Counts what each renewal of a slot found, to tell "one lost renewal" from "one event".
    const renew = bpStore.renew.bind(bpStore);
    bpStore.renew = (request) =>
      Promise.resolve(renew(request)).then((held) => {
        const { name } = request;
        const count = renewals.get(name) ?? { held: 0, lost: 0 };
        if (held) count.held++;
        else count.lost++;
        renewals.set(name, count);
        return held;
      });
  },
  {
    // ── Backpressure (capacity 1) ─────────────────────────────────────────────────────────

    /**
     * Takes the slot of `name`, waiting up to `maxWaitMs`, and keeps it (renewed by the guard)
     * until `bpRelease`; tells the observer it entered. Answers whether it got the slot.
     */
    async bpHold({ name, leaseMs, maxWaitMs = 0 }) {
      const permit = await guardFor(name, leaseMs, maxWaitMs)
        .acquire()
        .catch(() => undefined);
      if (permit === undefined) return false;
      await report({ type: 'enter', name });
      permits.set(name, permit);
      return true;
    },
    async bpRelease({ name }) {
      const permit = permits.get(name);
      if (permit === undefined) return false;
      permits.delete(name);
      await report({ type: 'exit', name });
      permit.release();
      return true;
    },
    bpDepth: ({ name }) => bpStore.depth({ name }),
    bpRenewals: ({ name }) => renewals.get(name) ?? { held: 0, lost: 0 },

    // ── Dedupe ────────────────────────────────────────────────────────────────────────────

    /** Starts a call that owns `key` and runs until `ddFinish`; answers once it runs. */
    async ddOwn({ name, key, leaseMs, ttlMs }) {
      const run = chainFor(name, leaseMs, ttlMs).run(undefined, [key]);
      run.catch(() => undefined);
      owned.set(key, run);
      while (!finishers.has(key)) await new Promise((resolve) => setTimeout(resolve, 5));
      return process.pid;
    },
    /** What the call started by `ddOwn` answered its caller. */
    ddOwnResult: ({ key }) => owned.get(key),
    /** `callers` concurrent calls with `key`; answers each one's value or error. */
    async ddCall({ name, key, callers, leaseMs, ttlMs }) {
      const chain = chainFor(name, leaseMs, ttlMs);
      return Promise.all(
        Array.from({ length: callers }, () =>
          chain.run(undefined, [key]).then(
            (value) => ({ value }),
            (error: Error) => ({ error: error.message }),
          ),
        ),
      );
    },
    ddFinish({ key, value }) {
      const finish = finishers.get(key);
      finishers.delete(key);
      finish?.(value);
      return finish !== undefined;
    },

    // ── Circuit breaker ───────────────────────────────────────────────────────────────────

    /** Admitted calls that fail, one after another, until the circuit rejects or `n` ran. */
    async cbFail({ circuit, n }) {
      const transitions = [];
      for (let i = 0; i < n; i++) {
        const admission = await cbStore.admit({ circuit, config: circuitConfig });
        if (!admission.admitted) break;
        transitions.push(
          await cbStore.record({ circuit, config: circuitConfig, admission, outcome: 'failure' }),
        );
      }
      return transitions.filter((t) => t !== undefined);
    },
    /**
     * One admit; an admitted call is kept under the returned `call` number until `cbRecord`
     * (not `id`: that is the request's own field).
     */
    async cbAdmit({ circuit }) {
      const admission = await cbStore.admit({ circuit, config: circuitConfig });
      if (!admission.admitted) return summarize(admission);
      const call = ++nextAdmission;
      admissions.set(call, admission);
      return { ...summarize(admission), call };
    },
    async cbRecord({ circuit, call, outcome }) {
      const admission = admissions.get(call);
      if (admission === undefined) throw new Error(`no admitted call ${call}`);
      admissions.delete(call);
      return (await cbStore.record({ circuit, config: circuitConfig, admission, outcome })) ?? null;
    },
    cbSnapshot: ({ circuit }) => cbStore.snapshot({ circuit, config: circuitConfig }),
  },
);
