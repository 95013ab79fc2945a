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
  /** True when compiled chains should time each call and report `call.finished`. */
  readonly observesCalls?: boolean;
  emit(event: OrchestratorEvent): void;
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

  get active(): boolean {
    return this.subject.observed || eventChannels.active;
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
    eventChannels.publish(event);
  }

  complete(): void {
    this.subject.complete();
  }
}
