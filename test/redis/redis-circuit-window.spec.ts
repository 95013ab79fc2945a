import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import type {
  AdmittedCall,
  CircuitConfig,
  CircuitTransition,
} from '../../lib/circuit-breaker/circuit-breaker.store.js';
import { CircuitBreakerPolicy } from '../../lib/circuit-breaker/circuit-breaker.policy.js';
import { InMemoryCircuitBreakerStore } from '../../lib/circuit-breaker/in-memory-circuit-breaker.store.js';
import { windowReason } from '../../lib/circuit-breaker/outcome-window.js';
import type { EventSink, OrchestratorEvent } from '../../lib/core/events.js';
import { RedisBackend, RedisCircuitBreakerStore } from '../../lib/redis/index.js';
import { WindowModel, windowScenario, type WindowScenario } from '../contracts/store-models.js';
import { FakeClock } from '../support/fake-clock.js';
import { keysWithoutTtl, startRedis, type RedisServerHandle } from '../support/redis/index.js';
import { SAFE_CLIENT, storeTracker, testBackendOptions } from './helpers.js';

/*
 * Failure-rate and slow-call windows on Redis: the closed path costs no round trip, each process
 * merges its outcomes into the fleet's window at sync points, and the merged window opens the
 * circuit. The model test places the sync points itself (`flushWindows`, with a sync interval
 * far longer than a run), so it is exact: at each sync point the Redis window must hold what the
 * reference model's window holds after the same calls, and the circuit must open at the first
 * sync point whose window crosses a threshold, with the model's reason. Synced after every call,
 * that is exactly when the in-memory store opens; synced less often, one sync interval later.
 */

const NUM_RUNS = Number(process.env.MODEL_RUNS ?? 60);
const PROPERTY_TIMEOUT_MS = 120_000;
/** Long enough that no timer syncs during a run: the test decides when batches are sent. */
const NEVER_MS = 600_000;
/** A time window this long expires nothing during a run (its buckets are 6 s wide). */
const LONG_TIME_WINDOW_MS = 60_000;
const PATIENT_MS = 5000;

const runTag = randomBytes(3).toString('hex');
let counter = 0;
const fresh = (label: string) => `win-${label}-${runTag}-${++counter}`;

const stores = storeTracker();
let server: RedisServerHandle;
let admin: Redis;
let backend: RedisBackend;
let runs = 0;

beforeAll(async () => {
  server = await startRedis();
  admin = server.client();
  backend = new RedisBackend(
    server.client({ ...SAFE_CLIENT, commandTimeout: PATIENT_MS }),
    testBackendOptions({ operationTimeoutMs: PATIENT_MS }),
  );
  // Counts round trips: every script a store runs goes through `run`.
  const run = backend.run.bind(backend);
  backend.run = (...args) => {
    runs++;
    return run(...args);
  };
});

afterAll(async () => {
  await backend?.close();
  await stores.closeAll();
});

function configOf(scenario: WindowScenario, syncIntervalMs = NEVER_MS): CircuitConfig {
  const { failureRateThreshold, slowCallRateThreshold, slowCallMs, minimumCalls } = scenario;
  return {
    threshold: 1, // unused with rates: a single failure must not open the circuit
    recoveryWindowMs: NEVER_MS,
    halfOpenMaxCalls: 1,
    probeLeaseMs: NEVER_MS,
    slowCallMs,
    minimumCalls,
    syncIntervalMs,
    ...(failureRateThreshold !== undefined ? { failureRateThreshold } : {}),
    ...(slowCallRateThreshold !== undefined ? { slowCallRateThreshold } : {}),
    ...(scenario.windowMs !== undefined
      ? { windowMs: LONG_TIME_WINDOW_MS }
      : { windowSize: scenario.windowSize }),
  };
}

function admitted(admission: unknown): AdmittedCall {
  const a = admission as AdmittedCall;
  if (!a.admitted) throw new Error(`expected an admission, got ${JSON.stringify(admission)}`);
  return a;
}

/** A scenario, its time windows made long (Redis time cannot be faked), and its sync points. */
const syncedScenario = fc.tuple(windowScenario, fc.array(fc.boolean(), { minLength: 40 }));

async function runModel([raw, syncs]: [WindowScenario, boolean[]]): Promise<void> {
  const scenario: WindowScenario =
    raw.windowMs === undefined ? raw : { ...raw, windowMs: LONG_TIME_WINDOW_MS };
  const store = stores.track(new RedisCircuitBreakerStore(backend));
  const model = new WindowModel(scenario);
  const config = configOf(scenario);
  const circuit = fresh('model');
  const heard: CircuitTransition[] = [];
  const onTransition = (transition: CircuitTransition) => heard.push(transition);
  // The in-memory store on the same calls (its clock stands still, as the long windows do).
  const reference = new InMemoryCircuitBreakerStore(new FakeClock(1_700_000_000_037));
  let referenceOpened: { at: number; reason?: string } | undefined;

  for (const [index, call] of scenario.calls.entries()) {
    const what = `call ${index} of ${JSON.stringify(scenario.calls.slice(0, index + 1))}`;
    const admission = admitted(await store.admit({ circuit, config }));
    const { outcome, durationMs } = call;
    const recorded = await store.record({
      circuit,
      config,
      admission,
      outcome,
      durationMs,
      onTransition,
    });
    expect({ what, recorded }).toEqual({ what, recorded: undefined }); // decided at sync points
    const expected = model.record(0, outcome, durationMs);
    if (referenceOpened === undefined) {
      const call = { circuit, config, outcome, durationMs };
      const opened = reference.record({ ...call, admission: admitted(reference.admit(call)) });
      if (opened !== undefined) referenceOpened = { at: index, reason: opened.reason };
    }
    if (!(syncs[index] ?? true)) continue;

    await store.flushWindows();
    const reason = windowReason(expected, config);
    // Synced on the call that opened the in-memory store, Redis opens too, for the same reason;
    // it never opens before the in-memory store did (at most one sync interval after it).
    if (referenceOpened?.at === index) {
      expect({ what, reason }).toEqual({ what, reason: referenceOpened.reason });
    }
    if (reason !== undefined) {
      const inMemoryOpened = referenceOpened !== undefined && referenceOpened.at <= index;
      expect({ what, inMemoryOpened }).toEqual({ what, inMemoryOpened: true });
    }
    if (reason !== undefined) {
      expect({ what, heard }).toEqual({
        what,
        heard: [expect.objectContaining({ from: 'closed', to: 'open', reason })],
      });
      const rejection = await store.admit({ circuit, config });
      expect(rejection.admitted).toBe(false);
      return;
    }
    expect({ what, heard }).toEqual({ what, heard: [] });
    const snapshot = await store.snapshot({ circuit, config });
    const rate = (n: number) => (expected.calls === 0 ? 0 : n / expected.calls);
    expect({ what, snapshot }).toMatchObject({
      what,
      snapshot: {
        state: 'closed',
        windowCalls: expected.calls,
        failureRate: rate(expected.failures),
        slowCallRate: rate(expected.slow),
      },
    });
  }
}

describe('RedisCircuitBreakerStore: failure-rate and slow-call windows', () => {
  it(
    'merges at each sync point exactly the window of the reference model, and opens there',
    async () => {
      await fc.assert(fc.asyncProperty(syncedScenario, runModel), { numRuns: NUM_RUNS });
    },
    PROPERTY_TIMEOUT_MS,
  );

  const RATES: CircuitConfig = {
    threshold: 1,
    recoveryWindowMs: NEVER_MS,
    halfOpenMaxCalls: 1,
    probeLeaseMs: NEVER_MS,
    failureRateThreshold: 0.5,
    minimumCalls: 10,
    windowSize: 100,
    syncIntervalMs: NEVER_MS,
  };

  it('costs no round trip per call on the closed path, one per sync', async () => {
    const store = stores.track(new RedisCircuitBreakerStore(backend));
    const circuit = fresh('round-trips');
    const before = runs;
    for (let i = 0; i < 1000; i++) {
      const admission = admitted(await store.admit({ circuit, config: RATES }));
      const outcome = i % 10 === 0 ? 'failure' : 'success';
      await store.record({ circuit, config: RATES, admission, outcome });
    }
    expect(runs - before).toBe(1); // the first admission learned the closed state

    await store.flushWindows();
    expect(runs - before).toBe(2);
    await store.flushWindows(); // nothing pending: nothing sent
    expect(runs - before).toBe(2);
    const snapshot = await store.snapshot({ circuit, config: RATES });
    expect(snapshot).toMatchObject({ state: 'closed', windowCalls: 100, failureRate: 0.1 });
  });

  it('sends at most one batch per sync interval while calls keep coming', async () => {
    const store = stores.track(new RedisCircuitBreakerStore(backend));
    const circuit = fresh('interval');
    const config = { ...RATES, syncIntervalMs: 20 };
    admitted(await store.admit({ circuit, config }));
    const before = runs;
    const started = performance.now();
    let calls = 0;
    while (performance.now() - started < 300) {
      const admission = admitted(await store.admit({ circuit, config }));
      await store.record({ circuit, config, admission, outcome: 'success' });
      calls++;
      if (calls % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const elapsed = performance.now() - started;
    const syncs = runs - before;
    expect(syncs).toBeGreaterThanOrEqual(1);
    expect(syncs).toBeLessThanOrEqual(Math.floor(elapsed / config.syncIntervalMs) + 1);
    console.log(`${calls} calls, ${syncs} syncs in ${Math.round(elapsed)} ms (interval 20 ms)`);
  });

  it('tells a second store of the opening at once, and half-open probes stay per call', async () => {
    const a = stores.track(new RedisCircuitBreakerStore(backend));
    const b = stores.track(
      new RedisCircuitBreakerStore(server.client(SAFE_CLIENT), testBackendOptions()),
    );
    const circuit = fresh('probes');
    const config = { ...RATES, recoveryWindowMs: 300 };
    admitted(await b.admit({ circuit, config })); // b knows the circuit closed, and listens
    for (let i = 0; i < 10; i++) {
      const admission = admitted(await a.admit({ circuit, config }));
      await a.record({ circuit, config, admission, outcome: i < 5 ? 'failure' : 'success' });
    }
    await a.flushWindows();
    await waitFor(async () => !(await b.admit({ circuit, config })).admitted);

    await new Promise((resolve) => setTimeout(resolve, config.recoveryWindowMs + 50));
    const probe = admitted(await b.admit({ circuit, config }));
    expect(probe.probe).toBe(true);
    expect((await a.admit({ circuit, config })).admitted).toBe(false); // one probe slot
    const closed = await b.record({ circuit, config, admission: probe, outcome: 'success' });
    expect(closed).toMatchObject({ from: 'half-open', to: 'closed' });

    // A new closed spell: its window starts empty, and the old spell's outcomes are stale.
    const fresh1 = admitted(await a.admit({ circuit, config }));
    expect(fresh1.probe).toBe(false);
    await a.record({ circuit, config, admission: fresh1, outcome: 'failure' });
    await a.flushWindows();
    expect(await a.snapshot({ circuit, config })).toMatchObject({
      state: 'closed',
      windowCalls: 1,
      failureRate: 1,
    });
  });

  it('drops a batch whose closed spell ended before it was sent', async () => {
    const store = stores.track(new RedisCircuitBreakerStore(backend));
    const circuit = fresh('stale');
    const admission = admitted(await store.admit({ circuit, config: RATES }));
    await store.record({ circuit, config: RATES, admission, outcome: 'failure' });
    await store.force({ circuit, config: RATES, state: 'open' });
    await store.force({ circuit, config: RATES, state: 'closed' });
    await store.flushWindows();
    expect(await store.snapshot({ circuit, config: RATES })).toMatchObject({
      state: 'closed',
      windowCalls: 0,
    });
  });

  it('counts a time window by the server clock, and leaves a TTL on every key', async () => {
    const store = stores.track(new RedisCircuitBreakerStore(backend));
    const circuit = fresh('time');
    const config: CircuitConfig = { ...RATES, windowSize: undefined, windowMs: 60_000 };
    for (let i = 0; i < 8; i++) {
      const admission = admitted(await store.admit({ circuit, config }));
      await store.record({ circuit, config, admission, outcome: i < 3 ? 'failure' : 'success' });
    }
    await store.flushWindows();
    expect(await store.snapshot({ circuit, config })).toMatchObject({
      windowCalls: 8,
      failureRate: 3 / 8,
    });
    expect(await admin.keys(`test:{cb:${circuit}}:*`)).toContain(`test:{cb:${circuit}}:win`);
    expect(await keysWithoutTtl(admin)).toEqual([]);
  });

  it('opens a policy (the engine) fleet-wide and reports the opening as an event', async () => {
    const store = stores.track(new RedisCircuitBreakerStore(backend));
    const events: OrchestratorEvent[] = [];
    const sink: EventSink = { active: true, emit: (event) => events.push(event) };
    const options = { failureRateThreshold: 0.5, minimumCalls: 4, windowSize: 10 };
    const policy = new CircuitBreakerPolicy(
      fresh('policy'),
      { ...options, syncIntervalMs: NEVER_MS },
      store,
      { events: sink },
    );
    const before = runs;
    for (let i = 0; i < 4; i++) {
      await expect(policy.call(() => Promise.reject(new Error('down')))).rejects.toThrow('down');
    }
    expect(runs - before).toBe(1);

    await store.flushWindows();
    await expect(policy.call(async () => 'ok')).rejects.toMatchObject({ name: 'CircuitOpenError' });
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'circuit.state', to: 'open', reason: 'failure-rate' }),
    );
  });

  it('loses only the unsent batch when a process dies; a graceful shutdown sends it', async () => {
    const observer = stores.track(new RedisCircuitBreakerStore(backend));
    const record = async (store: RedisCircuitBreakerStore, circuit: string, n: number) => {
      for (let i = 0; i < n; i++) {
        const admission = admitted(await store.admit({ circuit, config: RATES }));
        await store.record({ circuit, config: RATES, admission, outcome: 'success' });
      }
    };
    const crashed = new RedisCircuitBreakerStore(server.client(SAFE_CLIENT), testBackendOptions());
    const crashing = fresh('crash');
    await record(crashed, crashing, 6);
    await crashed.flushWindows();
    await record(crashed, crashing, 3);
    await crashed.backend.close(); // dies: its pending batch goes with it
    expect(await observer.snapshot({ circuit: crashing, config: RATES })).toMatchObject({
      windowCalls: 6,
    });

    const graceful = new RedisCircuitBreakerStore(server.client(SAFE_CLIENT), testBackendOptions());
    const leaving = fresh('graceful');
    await record(graceful, leaving, 5);
    await graceful.onApplicationShutdown();
    expect(await observer.snapshot({ circuit: leaving, config: RATES })).toMatchObject({
      windowCalls: 5,
    });
  });

  it('counts the outcomes of calls admitted before Redis went away in the local window', async () => {
    const lost = await startRedis();
    const options = testBackendOptions({ degradedCooldownMs: 60_000 });
    const store = stores.track(new RedisCircuitBreakerStore(lost.client(SAFE_CLIENT), options));
    const circuit = fresh('degraded');
    const config = { ...RATES, minimumCalls: 4 };
    const held: AdmittedCall[] = [];
    for (let i = 0; i < 8; i++) held.push(admitted(await store.admit({ circuit, config })));
    await lost.kill();
    for (const admission of held.splice(0, 3)) {
      await store.record({ circuit, config, admission, outcome: 'success' });
      await store.flushWindows(); // each failed sync is one more failure of the backend
    }
    expect(store.backend.degraded).toBe(true);

    const transitions = [];
    for (const admission of held.splice(0)) {
      transitions.push(await store.record({ circuit, config, admission, outcome: 'failure' }));
    }
    expect(transitions).toContainEqual(
      expect.objectContaining({ to: 'open', reason: 'failure-rate' }),
    );
    expect(store.admit({ circuit, config })).toMatchObject({ admitted: false });
  });
});

async function waitFor(condition: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error('condition not met within 1 s');
}
