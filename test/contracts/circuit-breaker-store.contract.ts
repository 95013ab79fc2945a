import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type {
  AdmittedCall,
  CircuitAdmission,
  CircuitBreakerStore,
  CircuitConfig,
  CircuitTransition,
  TransitionListener,
} from '../../lib/circuit-breaker/circuit-breaker.store.js';
import { waitUntil } from '../support/redis/wait.js';

/** How a contract run gets its store; `destroy` runs once, after the suite. */
export interface CircuitBreakerStoreFixture {
  create(): CircuitBreakerStore | Promise<CircuitBreakerStore>;
  destroy?(store: CircuitBreakerStore): void | Promise<void>;
}

/** Short real-time windows: the Redis stores take time from the server, not from a fake clock. */
export const CONTRACT_CONFIG: CircuitConfig = {
  threshold: 3,
  recoveryWindowMs: 150,
  halfOpenMaxCalls: 2,
  probeLeaseMs: 400,
};
const AFTER_WINDOW_MS = CONTRACT_CONFIG.recoveryWindowMs + 40;

let circuitCounter = 0;
/** A fresh circuit per test: state never leaks between tests sharing one store. */
function freshCircuit(label: string): string {
  return `contract-${label}-${process.pid}-${++circuitCounter}`;
}

function admitted(admission: CircuitAdmission): AdmittedCall {
  if (!admission.admitted)
    throw new Error(`expected an admission, got ${JSON.stringify(admission)}`);
  return admission;
}

/**
 * The behaviour every `CircuitBreakerStore` shares, so the in-memory and Redis stores are
 * interchangeable: consecutive-failure threshold, recovery window, fleet-wide probe limit, probe
 * leases, epochs that turn late outcomes stale, forced states, snapshots.
 */
export function describeCircuitBreakerStoreContract(
  label: string,
  fixture: CircuitBreakerStoreFixture,
): void {
  describe(`CircuitBreakerStore contract: ${label}`, () => {
    const config = CONTRACT_CONFIG;
    let store: CircuitBreakerStore;

    beforeAll(async () => {
      store = await fixture.create();
    });
    afterAll(async () => {
      if (store !== undefined) await fixture.destroy?.(store);
    });

    const admit = async (circuit: string) => store.admit({ circuit, config });
    const record = async (
      circuit: string,
      admission: AdmittedCall,
      outcome: 'success' | 'failure' | 'ignored',
    ) => store.record({ circuit, config, admission, outcome });
    const snapshot = async (circuit: string) => store.snapshot({ circuit, config });

    async function trip(circuit: string, onTransition?: TransitionListener): Promise<void> {
      for (let i = 0; i < config.threshold; i++) {
        const admission = admitted(await admit(circuit));
        await store.record({ circuit, config, admission, outcome: 'failure', onTransition });
      }
    }

    async function tripAndWait(circuit: string): Promise<void> {
      await trip(circuit);
      await delay(AFTER_WINDOW_MS);
    }

    it('reads an unused circuit as closed with no failures', async () => {
      expect(await snapshot(freshCircuit('unused'))).toMatchObject({
        state: 'closed',
        failures: 0,
        openUntil: null,
        probesInFlight: 0,
      });
    });

    it('admits calls while closed, without a probe or a transition', async () => {
      const circuit = freshCircuit('closed');
      const admission = await admit(circuit);

      expect(admission).toMatchObject({ admitted: true, probe: false });
      expect(admission.transition).toBeUndefined();
      expect(await record(circuit, admitted(admission), 'success')).toBeUndefined();
      expect((await snapshot(circuit)).state).toBe('closed');
    });

    it('opens on exactly `threshold` consecutive failures and reports the transition', async () => {
      const circuit = freshCircuit('trip');
      for (let i = 1; i < config.threshold; i++) {
        expect(await record(circuit, admitted(await admit(circuit)), 'failure')).toBeUndefined();
      }
      expect((await snapshot(circuit)).failures).toBe(config.threshold - 1);

      const transition = await record(circuit, admitted(await admit(circuit)), 'failure');

      expect(transition).toMatchObject({ from: 'closed', to: 'open' });
      expect(typeof transition?.at).toBe('number');
      const snap = await snapshot(circuit);
      expect(snap).toMatchObject({ state: 'open', failures: config.threshold });
      expect(snap.openUntil).toBeGreaterThanOrEqual(transition!.at + config.recoveryWindowMs - 1);
    });

    it('rejects while open, with a retry hint within the recovery window', async () => {
      const circuit = freshCircuit('reject');
      await trip(circuit);

      for (let i = 0; i < 3; i++) {
        const admission = await admit(circuit);
        expect(admission.admitted).toBe(false);
        if (admission.admitted) return;
        expect(admission.retryAfterMs).toBeGreaterThan(0);
        expect(admission.retryAfterMs).toBeLessThanOrEqual(config.recoveryWindowMs);
      }
    });

    it('counts consecutive failures only: a success resets the count', async () => {
      const circuit = freshCircuit('reset');
      for (let round = 0; round < 2; round++) {
        for (let i = 1; i < config.threshold; i++)
          await record(circuit, admitted(await admit(circuit)), 'failure');
        await record(circuit, admitted(await admit(circuit)), 'success');
      }

      expect(await snapshot(circuit)).toMatchObject({ state: 'closed', failures: 0 });
    });

    it('counts an ignored outcome as neither success nor failure', async () => {
      const circuit = freshCircuit('ignored');
      for (let i = 1; i < config.threshold; i++)
        await record(circuit, admitted(await admit(circuit)), 'failure');
      await record(circuit, admitted(await admit(circuit)), 'ignored');

      expect((await snapshot(circuit)).failures).toBe(config.threshold - 1);
      expect(await record(circuit, admitted(await admit(circuit)), 'failure')).toMatchObject({
        to: 'open',
      });
    });

    it('reads half-open once the window has passed, and the first admit reports open -> half-open', async () => {
      const circuit = freshCircuit('window');
      await tripAndWait(circuit);

      expect((await snapshot(circuit)).state).toBe('half-open');
      const admission = await admit(circuit);
      expect(admission).toMatchObject({ admitted: true, probe: true });
      expect(admission.transition).toMatchObject({ from: 'open', to: 'half-open' });
      expect(await snapshot(circuit)).toMatchObject({ state: 'half-open', probesInFlight: 1 });
    });

    it('admits at most `halfOpenMaxCalls` concurrent probes', async () => {
      const circuit = freshCircuit('probes');
      await tripAndWait(circuit);

      const admissions = await Promise.all(Array.from({ length: 12 }, () => admit(circuit)));

      const probes = admissions.filter((a) => a.admitted);
      expect(probes).toHaveLength(config.halfOpenMaxCalls);
      expect(probes.every((a) => a.admitted && a.probe)).toBe(true);
      for (const rejected of admissions.filter((a) => !a.admitted)) {
        expect(rejected.admitted === false && rejected.retryAfterMs).toBeGreaterThan(0);
      }
      expect(admissions.filter((a) => a.transition !== undefined)).toHaveLength(1);
    });

    it('closes on a probe success and resets the failures', async () => {
      const circuit = freshCircuit('close');
      await tripAndWait(circuit);
      const probe = admitted(await admit(circuit));

      expect(await record(circuit, probe, 'success')).toMatchObject({
        from: 'half-open',
        to: 'closed',
      });
      expect(await snapshot(circuit)).toMatchObject({
        state: 'closed',
        failures: 0,
        probesInFlight: 0,
      });
      expect(await admit(circuit)).toMatchObject({ admitted: true, probe: false });
    });

    it('re-opens on a probe failure for a new window', async () => {
      const circuit = freshCircuit('reopen');
      await tripAndWait(circuit);
      const probe = admitted(await admit(circuit));

      const transition = await record(circuit, probe, 'failure');

      expect(transition).toMatchObject({ from: 'half-open', to: 'open' });
      expect((await admit(circuit)).admitted).toBe(false);
      expect((await snapshot(circuit)).openUntil).toBeGreaterThan(transition!.at);
    });

    it('frees a probe slot when the probe ends ignored', async () => {
      const circuit = freshCircuit('ignored-probe');
      await tripAndWait(circuit);
      const probes = [admitted(await admit(circuit)), admitted(await admit(circuit))];
      expect((await admit(circuit)).admitted).toBe(false);

      await record(circuit, probes[0], 'ignored');

      expect(await admit(circuit)).toMatchObject({ admitted: true, probe: true });
    });

    it('frees the slot of a probe that never reports once its lease runs out', async () => {
      const circuit = freshCircuit('lease');
      await tripAndWait(circuit);
      admitted(await admit(circuit));
      admitted(await admit(circuit));
      const blocked = await admit(circuit);
      expect(blocked.admitted).toBe(false);

      await delay(config.probeLeaseMs + 40);

      expect(await admit(circuit)).toMatchObject({ admitted: true, probe: true });
    });

    it('ignores an outcome from an earlier epoch (a late, stale result)', async () => {
      const circuit = freshCircuit('stale');
      const late = admitted(await admit(circuit));
      await trip(circuit);
      await delay(AFTER_WINDOW_MS);
      await record(circuit, admitted(await admit(circuit)), 'success');
      const before = await snapshot(circuit);

      expect(await record(circuit, late, 'failure')).toBeUndefined();
      expect(await record(circuit, late, 'failure')).toBeUndefined();
      expect(await record(circuit, late, 'failure')).toBeUndefined();

      expect(await snapshot(circuit)).toEqual(before);
    });

    it('moves to a strictly greater epoch on every transition', async () => {
      const circuit = freshCircuit('epochs');
      const epochs = [admitted(await admit(circuit)).epoch];
      await trip(circuit);
      epochs.push((await snapshot(circuit)).epoch);
      await delay(AFTER_WINDOW_MS);
      const probe = admitted(await admit(circuit));
      epochs.push(probe.epoch);
      await record(circuit, probe, 'success');
      epochs.push(admitted(await admit(circuit)).epoch);

      for (let i = 1; i < epochs.length; i++) expect(epochs[i]).toBeGreaterThan(epochs[i - 1]);
    });

    it('forces open and forces closed with failures reset', async () => {
      const circuit = freshCircuit('force');
      await record(circuit, admitted(await admit(circuit)), 'failure');

      expect(await store.force({ circuit, config, state: 'open' })).toMatchObject({
        from: 'closed',
        to: 'open',
      });
      expect((await admit(circuit)).admitted).toBe(false);
      expect(await store.force({ circuit, config, state: 'closed' })).toMatchObject({
        from: 'open',
        to: 'closed',
      });
      expect(await snapshot(circuit)).toMatchObject({ state: 'closed', failures: 0 });
      expect((await admit(circuit)).admitted).toBe(true);
      expect(await store.force({ circuit, config, state: 'closed' })).toBeUndefined();
    });

    it('holds a forced open past the recovery window, without probes, until forced closed', async () => {
      const circuit = freshCircuit('held');
      await store.force({ circuit, config, state: 'open' });

      await delay(AFTER_WINDOW_MS);

      const refused = await admit(circuit);
      expect(refused.admitted).toBe(false);
      expect(!refused.admitted && refused.retryAfterMs).toBeGreaterThan(0);
      expect(await snapshot(circuit)).toMatchObject({
        state: 'open',
        forced: true,
        openUntil: null,
        probesInFlight: 0,
      });
      expect(await store.force({ circuit, config, state: 'closed' })).toMatchObject({
        from: 'open',
        to: 'closed',
      });
      expect(await admit(circuit)).toMatchObject({ admitted: true, probe: false });
      expect((await snapshot(circuit)).forced).toBe(false);
    });

    it('holds an open circuit forced open, with no transition and no later half-open', async () => {
      const circuit = freshCircuit('held-open');
      const heard: CircuitTransition[] = [];
      await trip(circuit, (t) => heard.push(t));
      const { epoch } = await snapshot(circuit);

      expect(await store.force({ circuit, config, state: 'open' })).toBeUndefined();
      await delay(AFTER_WINDOW_MS + 100);

      expect(await snapshot(circuit)).toMatchObject({ state: 'open', forced: true, epoch });
      expect((await admit(circuit)).admitted).toBe(false);
      expect(heard).toEqual([]);
    });

    it('tells the listener of the outcome that opened the circuit when the window ends', async () => {
      const circuit = freshCircuit('timer');
      const heard: CircuitTransition[] = [];
      await trip(circuit, (t) => heard.push(t));
      const opened = await snapshot(circuit);

      // No call in between: the store moves the circuit by itself.
      await waitUntil(() => heard.length > 0, { timeoutMs: 3000, what: 'open -> half-open' });

      expect(heard).toEqual([{ from: 'open', to: 'half-open', at: expect.any(Number) }]);
      expect(heard[0].at).toBeGreaterThanOrEqual(opened.openUntil! - 1);
      const moved = await snapshot(circuit);
      expect(moved).toMatchObject({ state: 'half-open', probesInFlight: 0 });
      expect(moved.epoch).toBeGreaterThan(opened.epoch);
      const probe = await admit(circuit);
      expect(probe).toMatchObject({ admitted: true, probe: true, epoch: moved.epoch });
      expect(probe.transition).toBeUndefined(); // already reported, never twice
    });

    it('keeps circuits apart by name', async () => {
      const tripped = freshCircuit('apart-a');
      const other = freshCircuit('apart-b');
      await trip(tripped);

      expect((await admit(tripped)).admitted).toBe(false);
      expect((await admit(other)).admitted).toBe(true);
    });
  });
}
