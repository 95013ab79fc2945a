import { describe, expect, it } from '@jest/globals';
import { CapCheck } from './cap-check.js';

const LEASE_MS = 3000;
/** The lease less one renewal interval (leaseMs / 3): the shortest stall that can cost a lease. */
const LOSING_STALL_MS = 2000;

/** A cap of 8 at every moment; violations collected as "invariant: detail". */
function capOf8() {
  const violations: string[] = [];
  const check = new CapCheck(
    LEASE_MS,
    () => ({ cap: 8, phase: 'steady' }),
    (_at, invariant, detail) => violations.push(`${invariant}: ${detail}`),
  );
  /** `worker` enters `n` slots named `${worker}-${i}` at `at`. */
  const fill = (worker: number, n: number, at: number) => {
    for (let i = 0; i < n; i++) check.enter(worker, `${worker}-${i}`, at);
  };
  return { check, violations, fill };
}

describe('CapCheck (the soak: calls in flight against the backpressure cap)', () => {
  it('counts an excess no stall explains as a violation, once its slots are done', () => {
    const { check, violations, fill } = capOf8();
    fill(1, 8, 0);
    check.enter(2, 'late', 100);

    check.decide();
    expect(violations).toEqual([]); // w1's slots still run: a stall may yet be reported

    check.workerKilled(1);
    check.exit(2, 'late');
    check.decide();
    expect(violations).toHaveLength(1);
    expect(violations[0]).toMatch(
      /^backpressure cap: 9 calls in flight > 8 \(phase steady; by worker w1: 8, w2: 1; leases lost to a stall: 0\)/,
    );
    expect(check.leaseLosses).toEqual([]);
  });

  it('excuses an excess while a holder stood still past its lease, the stall reported after it', () => {
    const { check, violations, fill } = capOf8();
    check.enter(0, 'stuck', 0);
    fill(1, 7, 0);
    // w0's loop stops at 100 and runs again at 2700; meanwhile its lease lapses (from 2100)
    // and w1 is granted the slot: its report comes first, w0 cannot report while it stands still.
    check.enter(1, 'extra', 2400);
    check.stalled(0, 100, 2700);
    check.exit(0, 'stuck');
    check.workerKilled(1);
    check.decide();

    expect(violations).toEqual([]);
    expect(check.leaseLosses).toEqual([
      { at: 2400, inFlight: 9, cap: 8, phase: 'steady', lost: [{ worker: 0, stallMs: 2600 }] },
    ]);
    expect(check.leaseLosingStalls).toEqual([{ worker: 0, from: 100, to: 2700, ms: 2600 }]);
  });

  it('excuses a slot granted while its worker stood still, read once it ran again', () => {
    const { check, violations, fill } = capOf8();
    fill(1, 7, 0);
    // w0 asks at 50 and Redis grants at once, but w0 stands still from 100 to 3,200: the lease
    // lapses unrenewed (from 3,050, a lease after the request) and w1 is granted the slot.
    check.enter(1, 'eighth', 3070);
    check.stalled(0, 100, 3200);
    check.enter(0, 'late', 3210, 50);
    check.exit(0, 'late');
    check.workerKilled(1);
    check.decide();

    expect(violations).toEqual([]);
    expect(check.leaseLosses).toEqual([
      { at: 3210, inFlight: 9, cap: 8, phase: 'steady', lost: [{ worker: 0, stallMs: 3100 }] },
    ]);
  });

  it('still counts a slot read after a stall when its unrenewed lease cannot have lapsed', () => {
    for (const [askedAt, enteredAt] of [
      [1500, 3210], // asked late in the stall: renewed within 2,000 ms of the request
      [50, 3040], // read before a whole lease had passed since the request
    ]) {
      const { check, violations, fill } = capOf8();
      fill(1, 8, 0);
      check.stalled(0, 100, 3030);
      check.enter(0, 'late', enteredAt, askedAt);
      check.exit(0, 'late');
      check.workerKilled(1);
      check.decide();

      expect(violations).toHaveLength(1);
    }
  });

  it('still counts an excess before the stalled lease can have lapsed', () => {
    const { check, violations, fill } = capOf8();
    check.enter(0, 'stuck', 0);
    fill(1, 7, 0);
    check.enter(1, 'extra', 100 + LOSING_STALL_MS - 50); // the lease had >= 50 ms left
    check.stalled(0, 100, 2700);
    check.exit(0, 'stuck');
    check.workerKilled(1);
    check.decide();

    expect(violations).toHaveLength(1);
    expect(violations[0]).toContain('leases lost to a stall: 0');
  });

  it('still counts an excess when the stall was too short to lose a lease', () => {
    const { check, violations, fill } = capOf8();
    check.enter(0, 'stuck', 0);
    fill(1, 7, 0);
    check.enter(1, 'extra', 1900);
    check.stalled(0, 0, LOSING_STALL_MS); // renewed at most 1000 ms before: 2000 ms were left
    check.exit(0, 'stuck');
    check.workerKilled(1);
    check.decide();

    expect(violations).toHaveLength(1);
    expect(check.leaseLosingStalls).toEqual([]);
  });

  it('still counts a stalled worker that held none of the slots', () => {
    const { check, violations, fill } = capOf8();
    fill(1, 8, 0);
    check.stalled(0, 0, 5000); // w0 held nothing: it lost no lease
    check.enter(1, 'extra', 2500);
    check.workerKilled(1);
    check.decide();

    expect(violations).toHaveLength(1);
  });

  it('still counts an excess of two when one lease was lost', () => {
    const { check, violations, fill } = capOf8();
    check.enter(0, 'stuck', 0);
    fill(1, 7, 0);
    check.enter(1, 'extra', 2400); // 9: explained by w0's lapsed lease
    check.enter(2, 'more', 2500); // 10: one slot more than any lapse explains
    check.stalled(0, 100, 2700);
    check.exit(0, 'stuck');
    check.workerKilled(1);
    check.exit(2, 'more');
    check.decide();

    expect(check.leaseLosses.map((l) => l.inFlight)).toEqual([9]);
    expect(violations).toHaveLength(1);
    expect(violations[0]).toMatch(
      /10 calls in flight > 8 .*leases lost to a stall: 1 \(w0 stalled 2600 ms\)/,
    );
  });

  it('does not excuse with a stall that started after the slot left', () => {
    const { check, violations, fill } = capOf8();
    check.enter(0, 'gone', 0);
    check.exit(0, 'gone');
    fill(1, 9, 2400);
    check.stalled(0, 100, 2700);
    check.workerKilled(1);
    check.decide();

    expect(violations).toHaveLength(1);
  });

  it('decides what is left at the end with what was reported', () => {
    const { check, violations, fill } = capOf8();
    fill(1, 9, 0);

    check.decide(true);

    expect(violations).toHaveLength(1);
    check.decide(true);
    expect(violations).toHaveLength(1); // decided once
  });

  it('tracks the most calls in flight per phase', () => {
    let phase = 'steady';
    const check = new CapCheck(
      LEASE_MS,
      () => ({ cap: 16, phase }),
      () => undefined,
    );
    for (let i = 0; i < 5; i++) check.enter(0, `a${i}`, i);
    phase = 'redis-pause';
    check.exit(0, 'a0');
    check.enter(0, 'b', 10);

    expect([...check.maxInFlight]).toEqual([
      ['steady', 5],
      ['redis-pause', 5],
    ]);
    expect(check.slotsInFlight).toBe(5);
  });
});
