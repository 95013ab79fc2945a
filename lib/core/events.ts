import { Observable, Subject } from 'rxjs';
import { eventChannels } from './diagnostics.js';

export type CircuitState = 'closed' | 'open' | 'half-open';

/**
 * Everything the library reports on `Orchestrator.events$`. A discriminated union on `type`,
 * so a `switch` narrows each event. Timestamps are epoch milliseconds from the clock.
 *
 * @publicApi
 */
export type OrchestratorEvent =
  | {
      type: 'circuit.state';
      circuit: string;
      from: CircuitState;
      to: CircuitState;
      at: number;
      /** On a transition to open: why it opened. */
      reason?:
        'consecutive-failures' | 'failure-rate' | 'slow-call-rate' | 'probe-failure' | 'forced';
    }
  | { type: 'circuit.rejected'; circuit: string; retryAfterMs: number; at: number }
  | { type: 'retry.scheduled'; policy: string; attempt: number; delayMs: number; error: unknown }
  | { type: 'retry.gave-up'; policy: string; attempts: number; error: unknown }
  | { type: 'retry.budget-exhausted'; policy: string; budget: string; error: unknown }
  | { type: 'dedupe.hit'; dedupe: string; source: 'in-flight' | 'cache' }
  | { type: 'dedupe.executed'; dedupe: string; outcome: 'success' | 'failure' }
  | { type: 'backpressure.shed'; guard: string; depth: number; capacity: number; waited: boolean }
  | { type: 'backpressure.waiting'; guard: string; depth: number; queued: number }
  | {
      type: 'backpressure.soft-limit';
      guard: string;
      depth: number;
      softLimit: number;
      capacity: number;
    }
  | {
      type: 'rate-limit.refused';
      limiter: string;
      retryAfterMs: number;
      reason: 'limit' | 'cooldown';
    }
  | { type: 'rate-limit.waiting'; limiter: string; delayMs: number }
  | { type: 'rate-limit.cooldown'; limiter: string; durationMs: number }
  | { type: 'rate-limit.charged'; limiter: string; tokens: number }
  | { type: 'pipeline.stage.started'; pipeline: string; stage: string; index: number }
  | {
      type: 'pipeline.stage.finished';
      pipeline: string;
      stage: string;
      index: number;
      durationMs: number;
      outcome: 'success' | 'failure' | 'recovered' | 'aborted';
    }
  | { type: 'store.error'; primitive: string; name: string; operation: string; error: unknown }
  | {
      type: 'pipeline.finished';
      pipeline: string;
      durationMs: number;
      stages: number;
      outcome: 'success' | 'failure' | 'aborted';
    }
  | {
      /**
       * One call of a decorated method ended. Reported only once call observation is on
       * (`EventBus.observeCalls()`, e.g. by the metrics provider) before the application
       * starts: otherwise the chains carry no timing layer at all.
       */
      type: 'call.finished';
      /** `Class.method`. */
      method: string;
      /** The named policy of the method's decorators, or `Class.method` for inline options. */
      policy: string;
      /** `rejected`: a policy refused the call (open circuit, shed, rate limit). */
      outcome: CallOutcomeKind;
      durationMs: number;
    };

/** How a call ended, as `call.finished` reports it. */
export type CallOutcomeKind = 'success' | 'failure' | 'rejected';

export type OrchestratorEventType = OrchestratorEvent['type'];

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
