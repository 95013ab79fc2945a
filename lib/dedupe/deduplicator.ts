// STUB: replaced by the @Dedupe implementation (issue 3).
import type { Clock } from '../core/clock.js';
import type { EventSink } from '../core/events.js';
import type { DedupeOptions } from './dedupe-options.js';
import type { DedupeStore } from './dedupe.store.js';

export interface DedupeRuntime {
  clock?: Clock;
  events?: EventSink;
  name?: string;
}

export class Deduplicator {
  constructor(
    readonly options: DedupeOptions = {},
    readonly store?: DedupeStore,
    readonly runtime: DedupeRuntime = {},
  ) {}
}
