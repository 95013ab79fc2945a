/** The library's events: one file of types, imported by the bus and the diagnostics channels. */
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
