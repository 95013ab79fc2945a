import { systemClock, type Clock } from '../core/clock.js';
import {
  BackpressureStore,
  type BackpressureAcquireRequest,
  type BackpressureAcquisition,
  type BackpressureHandOverRequest,
  type BackpressureNameRequest,
  type BackpressureSlotRequest,
} from './backpressure.store.js';
import { slotsFor, type HeldSlots, type IdSource } from './placed-slots.js';

/**
 * Process-local slot counts with synchronous answers. Slots never lapse here: a holder cannot
 * crash without the memory that counts it, and expiring a live holder's slot (after a long
 * event-loop stall, or a clock jump) could only let more than `capacity` calls run.
 *
 * @publicApi
 */
export class InMemoryBackpressureStore extends BackpressureStore {
  override readonly leasesExpire: boolean = false;
  private readonly slots = new Map<string, HeldSlots>();
  /** Every name's ids come from this one counter: a token is never issued twice. */
  private readonly ids: IdSource = { next: 1 };
  /** The last name looked up: a guard asks about one name, twice per call. */
  private lastName: string | undefined;
  private lastSlots: HeldSlots | undefined;

  /** `clock` is accepted for symmetry with the other stores; nothing here depends on time. */
  constructor(readonly clock: Clock = systemClock) {
    super();
  }

  acquire({ name, config }: BackpressureAcquireRequest): BackpressureAcquisition {
    const slots = this.slotsHolding(name, config.capacity);
    const depth = slots.count;
    if (depth >= config.capacity) return { granted: false, depth };
    return { granted: true, token: String(slots.grant()), depth: depth + 1 };
  }

  release({ name, token }: BackpressureSlotRequest): number {
    const slots = this.slotsOf(name);
    if (slots === undefined) return 0;
    slots.release(idOf(token));
    return slots.count;
  }

  /** Release and acquire in one synchronous step: nothing can come between them. */
  override handOver(request: BackpressureHandOverRequest): BackpressureAcquisition {
    this.slotsOf(request.name)?.release(idOf(request.token));
    return this.acquire(request);
  }

  renew({ name, token }: BackpressureSlotRequest): boolean {
    return this.slotsOf(name)?.holds(idOf(token)) ?? false;
  }

  depth({ name }: BackpressureNameRequest): number {
    return this.slotsOf(name)?.count ?? 0;
  }

  private slotsOf(name: string): HeldSlots | undefined {
    if (name === this.lastName) return this.lastSlots;
    const slots = this.slots.get(name);
    if (slots !== undefined) this.remember(name, slots);
    return slots;
  }

  /** The slots of `name`, made able to hold `capacity` of them at once. */
  private slotsHolding(name: string, capacity: number): HeldSlots {
    let slots = this.slotsOf(name);
    if (slots !== undefined && slots.fits(capacity)) return slots;
    slots = slots === undefined ? slotsFor(this.ids, capacity) : slots.widened(capacity);
    this.slots.set(name, slots);
    this.remember(name, slots);
    return slots;
  }

  private remember(name: string, slots: HeldSlots): void {
    this.lastName = name;
    this.lastSlots = slots;
  }
}

/**
 * A token this store handed out is a decimal id; anything else matches no held slot. Parsed by
 * hand: a regular expression and `Number()` cost more than the rest of a release.
 */
function idOf(token: string): number {
  const length = token.length;
  if (length === 0 || length > 15 || token.charCodeAt(0) === 48) return NaN; // no leading 0
  let id = 0;
  for (let i = 0; i < length; i++) {
    const digit = token.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return NaN;
    id = id * 10 + digit;
  }
  return id;
}
