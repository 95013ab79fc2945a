/** The slots of one name in the in-memory store: how many are held, and which ids. */
export interface HeldSlots {
  readonly count: number;
  /** Whether `capacity` slots can be held at once. */
  fits(capacity: number): boolean;
  /** The same held slots, able to hold `capacity` of them at once. */
  widened(capacity: number): HeldSlots;
  /** A new slot's id: a positive integer the store never handed out before. */
  grant(): number;
  /** False when `id` is not held (freed already, or never granted here). */
  release(id: number): boolean;
  holds(id: number): boolean;
}

/** Where every name of one store takes its ids: one counter, so that no id is ever issued twice. */
export interface IdSource {
  next: number;
}

/** Above this capacity, a name's held slots are kept in a set rather than in places. */
const MAX_PLACED_CAPACITY = 2 ** 16;
const MIN_PLACES = 16;

/** The held slots of a name first asked for with `capacity`. */
export function slotsFor(source: IdSource, capacity: number): HeldSlots {
  return capacity <= MAX_PLACED_CAPACITY
    ? new PlacedSlots(source, capacity, [])
    : new SetOfSlots(source, []);
}

/**
 * Held slots in a table of places, a power of two at least twice the capacity, where an id is
 * held at place `id mod places`. A grant takes the next unused id whose place is free (at most
 * half the places are taken, so about two tries), a release or a renewal looks at one place: no
 * hashing and no allocation, where a set of ids was rehashed every few grants (a freed id leaves
 * a deleted entry behind) and was the largest cost of an uncontended call. Ids come from the
 * store's one counter, so an old token never matches a newer grant.
 */
class PlacedSlots implements HeldSlots {
  count = 0;
  /** The id held at each place, or 0 where the place is free. */
  private readonly ids: number[];
  private readonly mask: number;

  constructor(
    private readonly source: IdSource,
    capacity: number,
    held: readonly number[],
  ) {
    const places = Math.max(MIN_PLACES, 2 ** Math.ceil(Math.log2(Math.max(capacity, 1) * 2)));
    this.ids = new Array<number>(places).fill(0);
    this.mask = places - 1;
    // Distinct places under a smaller table are distinct under this one: it is a multiple.
    for (const id of held) this.ids[this.placeOf(id)] = id;
    this.count = held.length;
  }

  fits(capacity: number): boolean {
    return capacity * 2 <= this.ids.length;
  }

  widened(capacity: number): HeldSlots {
    const held = this.ids.filter((id) => id !== 0);
    return capacity <= MAX_PLACED_CAPACITY
      ? new PlacedSlots(this.source, capacity, held)
      : new SetOfSlots(this.source, held);
  }

  grant(): number {
    let id = this.source.next;
    while (this.ids[this.placeOf(id)] !== 0) id++;
    this.source.next = id + 1;
    this.ids[this.placeOf(id)] = id;
    this.count++;
    return id;
  }

  release(id: number): boolean {
    if (!this.holds(id)) return false;
    this.ids[this.placeOf(id)] = 0;
    this.count--;
    return true;
  }

  holds(id: number): boolean {
    return id > 0 && this.ids[this.placeOf(id)] === id;
  }

  /** `id mod places`: `&` keeps the low 32 bits, of which the places' count is a divisor. */
  private placeOf(id: number): number {
    return id & this.mask;
  }
}

/** Held slots as a set of ids, for capacities too large for a table of places. */
class SetOfSlots implements HeldSlots {
  private readonly held: Set<number>;

  constructor(
    private readonly source: IdSource,
    held: readonly number[],
  ) {
    this.held = new Set(held);
  }

  get count(): number {
    return this.held.size;
  }

  fits(): boolean {
    return true;
  }

  widened(): HeldSlots {
    return this;
  }

  grant(): number {
    const id = this.source.next++;
    this.held.add(id);
    return id;
  }

  release(id: number): boolean {
    return this.held.delete(id);
  }

  holds(id: number): boolean {
    return this.held.has(id);
  }
}
