// STUB: replaced by the @Dedupe implementation (issue 3).
import { systemClock, type Clock } from '../core/clock.js';
import { DedupeStore } from './dedupe.store.js';

export class InMemoryDedupeStore extends DedupeStore {
  constructor(readonly clock: Clock = systemClock) {
    super();
  }
}
