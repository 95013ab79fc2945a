// STUB: replaced by the @Backpressure implementation (issue 3).
import type { Clock } from '../core/clock.js';
import type { EventSink } from '../core/events.js';
import type { BackpressureOptions } from './backpressure-options.js';
import type { BackpressureStore } from './backpressure.store.js';

export interface BackpressureRuntime {
  clock?: Clock;
  events?: EventSink;
  name?: string;
  logger?: { warn(message: string): void };
}

export class BackpressureGuard {
  constructor(
    readonly options: BackpressureOptions,
    readonly store?: BackpressureStore,
    readonly runtime: BackpressureRuntime = {},
  ) {}
  hardCapacity(): number {
    return this.options.capacity;
  }
  async depth(): Promise<number> {
    return 0;
  }
  softDepthRatio(): Promise<number> {
    return Promise.resolve(0);
  }
}
