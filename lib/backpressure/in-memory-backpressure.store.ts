// STUB: replaced by the @Backpressure implementation (issue 3).
import { systemClock, type Clock } from '../core/clock.js';
import { BackpressureStore } from './backpressure.store.js';

export class InMemoryBackpressureStore extends BackpressureStore {
  constructor(readonly clock: Clock = systemClock) {
    super();
  }
}
