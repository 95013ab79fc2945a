import { Observable, Subject } from 'rxjs';
import { eventChannels } from './diagnostics.js';

import type { OrchestratorEvent } from './event-types.js';

export type {
  CallOutcomeKind,
  CircuitState,
  OrchestratorEvent,
  OrchestratorEventType,
} from './event-types.js';

/**
 * Where policies report events. `active` lets hot paths skip building an event object
 * nobody listens to.
 */
export interface EventSink {
  readonly active: boolean;
  /**
   * True when the notable events (`NOTABLE_EVENT_TYPES`: circuit transitions, exhausted
   * retries) are wanted although `active` is false: a log of them must not make every call
   * build its events. Policies emit a notable event when either is true.
   */
  readonly notable?: boolean;
  /** True when compiled chains should time each call and report `call.finished`. */
  readonly observesCalls?: boolean;
  emit(event: OrchestratorEvent): void;
}

/** Events rare enough to report whenever someone logs them (see `EventSink.notable`). */
export const NOTABLE_EVENT_TYPES: ReadonlySet<OrchestratorEvent['type']> = new Set([
  'circuit.state',
  'retry.gave-up',
]);

/** Whether `sink` wants a notable event now. */
export function wantsNotable(sink: EventSink): boolean {
  return sink.active || sink.notable === true;
}

/** Discards every event: the sink of primitives created without an application. */
export const silentSink: EventSink = { active: false, emit: () => undefined };

/**
 * The application's event stream, one per Nest application (never process-wide). Each event
 * also goes to its `node:diagnostics_channel` channel (`nestjs-orchestrator:<type>`), which is
 * process-wide. Active while either has a listener.
 */
export class EventBus implements EventSink {
  private readonly subject = new Subject<OrchestratorEvent>();
  readonly events$: Observable<OrchestratorEvent> = this.subject.asObservable();
  private callsObserved = false;
  private readonly notableListeners = new Set<(event: OrchestratorEvent) => void>();

  get active(): boolean {
    return this.subject.observed || eventChannels.active;
  }

  get notable(): boolean {
    return this.notableListeners.size > 0;
  }

  /**
   * Calls `listener` with each notable event only (`NOTABLE_EVENT_TYPES`), without making the
   * bus active: policies keep skipping the per-call events. Returns the unsubscription.
   */
  onNotable(listener: (event: OrchestratorEvent) => void): () => void {
    this.notableListeners.add(listener);
    return () => this.notableListeners.delete(listener);
  }

  get observesCalls(): boolean {
    return this.callsObserved;
  }

  /**
   * Asks chains compiled from now on to time each call and report `call.finished`. Call it
   * before the application starts (a provider's constructor): chains compiled earlier stay
   * as they are, and without it a call pays nothing for observation.
   */
  observeCalls(): void {
    this.callsObserved = true;
  }

  emit(event: OrchestratorEvent): void {
    if (this.subject.observed) this.subject.next(event);
    if (this.notableListeners.size > 0 && NOTABLE_EVENT_TYPES.has(event.type)) {
      for (const listener of this.notableListeners) listener(event);
    }
    eventChannels.publish(event);
  }

  complete(): void {
    this.subject.complete();
  }
}
