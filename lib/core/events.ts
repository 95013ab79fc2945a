import { Observable, Subject } from 'rxjs';

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
    };

export type OrchestratorEventType = OrchestratorEvent['type'];

/**
 * Where policies report events. `active` lets hot paths skip building an event object
 * nobody listens to.
 */
export interface EventSink {
  readonly active: boolean;
  emit(event: OrchestratorEvent): void;
}

/** Discards every event: the sink of primitives created without an application. */
export const silentSink: EventSink = { active: false, emit: () => undefined };

/** The application's event stream, one per Nest application (never process-wide). */
export class EventBus implements EventSink {
  private readonly subject = new Subject<OrchestratorEvent>();
  readonly events$: Observable<OrchestratorEvent> = this.subject.asObservable();

  get active(): boolean {
    return this.subject.observed;
  }

  emit(event: OrchestratorEvent): void {
    this.subject.next(event);
  }

  complete(): void {
    this.subject.complete();
  }
}
