import type { HeldLease } from '../core/lease-renewer.js';
import type { BackpressurePermit } from './backpressure-permit.js';

/** @internal What a slot goes back to when released: its guard. */
export interface SlotOwner {
  free(slot: Slot): void;
}

/**
 * @internal A slot a guard granted: its store token, and when it was granted. A queued call of
 * the layer is its own slot (one object per call rather than two), so the guard fills the
 * token in as it grants the slot, not at construction.
 */
export class Slot implements BackpressurePermit {
  token = '';
  grantedAt = 0;
  lease: HeldLease | undefined = undefined;
  private released = false;

  constructor(private readonly owner: SlotOwner) {}

  release(): void {
    if (this.released) return;
    this.released = true;
    this.owner.free(this);
  }
}
