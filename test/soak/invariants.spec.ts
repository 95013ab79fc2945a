import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { FaultLog } from './fault-log.js';
import { Invariants } from './invariants.js';
import { epochNow, type SoakSettings } from './soak-protocol.js';

const SETTINGS = { workers: 4, capacity: 8, leaseMs: 3000, operationTimeoutMs: 500 };

/**
 * The soak's parent as the workers' reports drive it, on the real clock (the parent stamps
 * what it receives): reports are sent in the order the parent would receive them.
 */
function parent() {
  const faults = new FaultLog(1500);
  const invariants = new Invariants(SETTINGS as SoakSettings, faults, 1500);
  let slots = 0;
  /** `worker` enters `n` slots, reported `agoMs` before now; answers their ids. */
  const enter = (worker: number, n: number, agoMs = 0) =>
    Array.from({ length: n }, () => {
      const slot = `s${++slots}`;
      const at = epochNow() - agoMs;
      invariants.onReport(worker, { type: 'enter', slot, at, askedAt: at - 5 });
      return slot;
    });
  const exit = (worker: number, ids: string[]) =>
    ids.forEach((slot) => invariants.onReport(worker, { type: 'exit', slot }));
  /** `worker` ran again now after standing still for `ms`. */
  const stall = (worker: number, ms: number) =>
    invariants.onMessage(worker, {
      kind: 'stall',
      ms: ms - 100,
      from: epochNow() - ms,
      to: epochNow(),
    });
  const capViolations = () =>
    invariants.violations.filter((v) => v.invariant === 'backpressure cap');
  return { invariants, enter, exit, stall, capViolations };
}

describe('Invariants: the backpressure cap against worker stalls', () => {
  // FaultLog prints the timeline of a stall.
  beforeEach(() => {
    jest.spyOn(console, 'log').mockImplementation(() => undefined);
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });

  it('excuses a slot over the cap granted while its holder stood still past its lease', () => {
    const { invariants, enter, exit, stall, capViolations } = parent();
    const stuck = enter(0, 1, 2700);
    const others = enter(1, 7, 2700);
    // w0 stood still from 2,600 ms ago; its lease lapsed and w1 got the slot 300 ms ago.
    const extra = enter(1, 1, 300);
    stall(0, 2600);
    exit(0, stuck);
    exit(1, [...others, ...extra]);
    invariants.cap.decide();

    expect(capViolations()).toEqual([]);
    expect(invariants.cap.leaseLosses).toHaveLength(1);
    expect(invariants.cap.leaseLosses[0]).toMatchObject({ inFlight: 9, cap: 8 });
  });

  it('judges a slot by when its worker entered it, against degraded mode on the same clock', () => {
    const { invariants, enter, exit, capViolations } = parent();
    const steady = enter(1, 8, 100);
    // w0 went degraded 50 ms ago and took a local slot at once; the parent reads both now.
    invariants.onMessage(0, { kind: 'store-event', event: 'redis.degraded', at: epochNow() - 50 });
    const local = enter(0, 1, 40);
    exit(0, local);
    exit(1, steady);
    invariants.cap.decide();

    expect(capViolations()).toEqual([]);
    expect([...invariants.cap.maxInFlight]).toEqual([
      ['steady', 8],
      ['degraded (not injected)', 9],
    ]);
  });

  it('counts a slot over the cap when the worker that stood still held none', () => {
    const { invariants, enter, exit, stall, capViolations } = parent();
    // A stall longer than the lease, of a worker with nothing in flight: it frees no slot.
    stall(0, 3500);
    const slots = enter(1, 9);
    exit(1, slots);
    invariants.cap.decide();

    expect(capViolations()).toHaveLength(1);
    expect(capViolations()[0].detail).toMatch(/^9 calls in flight > 8 \(phase steady/);
  });
});

describe('Invariants: one execution per dedupe key against worker stalls', () => {
  beforeEach(() => {
    jest.spyOn(console, 'log').mockImplementation(() => undefined);
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });

  const execution = (invariants: Invariants, worker: number, key: string) =>
    invariants.onReport(worker, { type: 'exec-start', key });
  const repeats = (invariants: Invariants) =>
    invariants.violations.filter((v) => v.invariant === 'one execution per dedupe key');

  it("excuses a repeat while the previous owner stood still past its claim's lease", () => {
    const { invariants, stall } = parent();
    execution(invariants, 0, 'k');
    // w0 stands still; its claim lapses and w1 runs the key; then w0 runs again and says so.
    execution(invariants, 1, 'k');
    stall(0, 2600);
    invariants.decideRepeats(performance.now(), true);

    expect(repeats(invariants)).toEqual([]);
    expect(invariants.claimsLostToStalls).toBe(1);
  });

  it('counts a repeat when the worker that stood still was not the owner', () => {
    const { invariants, stall } = parent();
    execution(invariants, 0, 'k');
    stall(2, 3500); // longer than the lease, but w2 owned nothing
    execution(invariants, 1, 'k');
    invariants.decideRepeats(performance.now(), true);

    expect(repeats(invariants)).toHaveLength(1);
    expect(repeats(invariants)[0].detail).toMatch(/^key k: execution 2 in worker 1/);
  });
});
