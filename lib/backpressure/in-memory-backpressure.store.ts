import { systemClock, type Clock } from '../core/clock.js';
import {
  BackpressureStore,
  type BackpressureAcquisition,
  type BackpressureConfig,
} from './backpressure.store.js';

/**
 * Process-local slot counts with synchronous answers. Slots never lapse here: a holder cannot
 * crash without the memory that counts it, and expiring a live holder's slot (after a long
 * event-loop stall, or a clock jump) could only let more than `capacity` calls run.
 *
 * @publicApi
 */
export class InMemoryBackpressureStore extends BackpressureStore {
  override readonly leasesExpire = false;
  private readonly holders = new Map<string, Set<string>>();
  private tokens = 0;

  /** `clock` is accepted for symmetry with the other stores; nothing here depends on time. */
  constructor(readonly clock: Clock = systemClock) {
    super();
  }

  acquire(name: string, config: BackpressureConfig): BackpressureAcquisition {
    const held = this.heldBy(name);
    if (held.size >= config.capacity) return { granted: false, depth: held.size };
    const token = String(++this.tokens);
    held.add(token);
    return { granted: true, token, depth: held.size };
  }

  release(name: string, token: string): number {
    const held = this.heldBy(name);
    held.delete(token);
    return held.size;
  }

  renew(name: string, token: string): boolean {
    return this.heldBy(name).has(token);
  }

  depth(name: string): number {
    return this.holders.get(name)?.size ?? 0;
  }

  private heldBy(name: string): Set<string> {
    let held = this.holders.get(name);
    if (held === undefined) {
      held = new Set();
      this.holders.set(name, held);
    }
    return held;
  }
}
