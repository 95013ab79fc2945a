import { describe, expect, it } from '@jest/globals';
import { InMemoryBackpressureStore } from './in-memory-backpressure.store.js';
import { slotsFor, type IdSource } from './placed-slots.js';

const source = (): IdSource => ({ next: 1 });

describe("the in-memory store's held slots", () => {
  it('reuses a freed place with a new id: the old id no longer matches it', () => {
    const slots = slotsFor(source(), 2);
    const first = slots.grant();
    const second = slots.grant();
    expect(slots.release(first)).toBe(true);
    const reused = slots.grant();
    expect(reused).not.toBe(first);
    expect(slots.holds(first)).toBe(false);
    expect(slots.release(first)).toBe(false);
    expect([slots.holds(second), slots.holds(reused), slots.count]).toEqual([true, true, 2]);
  });

  it('never hands out an id held, and counts exactly, over many grants and releases', () => {
    const slots = slotsFor(source(), 10);
    const held = new Set<number>();
    let seed = 7;
    for (let i = 0; i < 50_000; i++) {
      seed = (seed * 48_271) % 2_147_483_647;
      if (held.size < 10 && (held.size === 0 || seed % 3 !== 0)) {
        const id = slots.grant();
        expect(held.has(id)).toBe(false);
        held.add(id);
      } else {
        const id = [...held][seed % held.size];
        expect(slots.release(id)).toBe(true);
        held.delete(id);
      }
      expect(slots.count).toBe(held.size);
    }
    for (const id of held) expect(slots.holds(id)).toBe(true);
  });

  it('never issues an id twice across the names of one store, and keeps ids small', () => {
    const shared = source();
    const names = [slotsFor(shared, 1), slotsFor(shared, 10), slotsFor(shared, 300)];
    const issued = new Set<number>();
    const grants = 30_000;
    for (let i = 0; i < grants; i++) {
      const slots = names[i % 3];
      const id = slots.grant();
      expect(issued.has(id)).toBe(false);
      issued.add(id);
      if (slots.count > 1 || i % 5 !== 0) slots.release(id);
    }
    expect(shared.next).toBeLessThan(grants * 3);
  });

  it("keeps the slots held when a name's capacity grows past its places", () => {
    const slots = slotsFor(source(), 4);
    const before = [slots.grant(), slots.grant()];
    const wider = slots.widened(1_000);
    expect(wider.fits(1_000)).toBe(true);
    expect(wider.count).toBe(2);
    const after = Array.from({ length: 100 }, () => wider.grant());
    expect(new Set([...before, ...after]).size).toBe(102);
    expect(wider.release(before[0])).toBe(true);
    expect(wider.release(before[0])).toBe(false);
    expect(wider.holds(before[1])).toBe(true);
    expect(wider.count).toBe(101);
  });

  it('counts very large capacities in a set, and moves to one when a capacity grows that far', () => {
    const large = slotsFor(source(), 1_000_000);
    const ids = Array.from({ length: 1_000 }, () => large.grant());
    expect(new Set(ids).size).toBe(1_000);
    expect(large.release(ids[500])).toBe(true);
    expect(large.holds(ids[500])).toBe(false);
    expect(large.count).toBe(999);
    const grown = slotsFor(source(), 3);
    const held = grown.grant();
    const set = grown.widened(1_000_000);
    expect(set.holds(held)).toBe(true);
    expect(set.grant()).not.toBe(held);
    expect(set.count).toBe(2);
  });

  it("lets the store grow a name's capacity under held slots, and release them after", () => {
    const store = new InMemoryBackpressureStore();
    const grant = (capacity: number) => {
      const answer = store.acquire({ name: 'n', config: { capacity, leaseMs: 1 } });
      if (!answer.granted) throw new Error('refused');
      return answer.token;
    };
    const small = [grant(2), grant(2)];
    expect(store.acquire({ name: 'n', config: { capacity: 2, leaseMs: 1 } }).granted).toBe(false);
    const large = Array.from({ length: 98 }, () => grant(100));
    expect(store.depth({ name: 'n' })).toBe(100);
    expect(store.release({ name: 'n', token: small[0] })).toBe(99);
    expect(store.renew({ name: 'n', token: small[1] })).toBe(true);
    expect(store.renew({ name: 'n', token: large[97] })).toBe(true);
    expect(store.release({ name: 'n', token: small[0] })).toBe(99);
  });
});
