import type { Counter, Histogram, Meter } from '@opentelemetry/api';
import type { CircuitState, OrchestratorEvent } from '../core/events.js';
import { ORCHESTRATOR_METRICS as M } from './metric-names.js';

/** Bucket boundaries in seconds: from a cached answer (1 ms) to a long LLM generation (60 s). */
export const DURATION_BUCKETS_S = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

type EventOf<T extends OrchestratorEvent['type']> = Extract<OrchestratorEvent, { type: T }>;

/** Records each event on its counter or histogram; remembers each circuit's last state. */
export class EventRecorder {
  /** The state each circuit last moved to, as this process saw it. */
  readonly circuitStates = new Map<string, CircuitState>();
  private readonly calls: Counter;
  private readonly callDuration: Histogram;
  private readonly retries: Counter;
  private readonly retriesExhausted: Counter;
  private readonly circuitRejections: Counter;
  private readonly circuitTransitions: Counter;
  private readonly sheds: Counter;
  private readonly dedupeHits: Counter;
  private readonly dedupeExecutions: Counter;
  private readonly rateLimitRefusals: Counter;
  private readonly rateLimitTokens: Counter;
  private readonly pipelineDuration: Histogram;
  private readonly stageDuration: Histogram;
  private readonly storeErrors: Counter;

  constructor(meter: Meter) {
    const counter = (name: string, description: string, unit = '{call}') =>
      meter.createCounter(name, { description, unit });
    const seconds = (name: string, description: string) =>
      meter.createHistogram(name, {
        description,
        unit: 's',
        advice: { explicitBucketBoundaries: DURATION_BUCKETS_S },
      });
    this.calls = counter(M.calls, 'Calls of protected methods, by policy and outcome');
    this.callDuration = seconds(M.callDuration, 'Duration of protected method calls');
    this.retries = counter(M.retries, 'Retries scheduled', '{retry}');
    this.retriesExhausted = counter(M.retriesExhausted, 'Calls that failed after every attempt');
    this.circuitRejections = counter(M.circuitRejections, 'Calls refused by a circuit');
    this.circuitTransitions = counter(M.circuitTransitions, 'Circuit transitions', '{transition}');
    this.sheds = counter(M.sheds, 'Calls refused by backpressure');
    this.dedupeHits = counter(M.dedupeHits, 'Calls answered by a shared execution or the cache');
    this.dedupeExecutions = counter(M.dedupeExecutions, 'Executions dedupe let run');
    this.rateLimitRefusals = counter(M.rateLimitRefusals, 'Calls refused by a rate limiter');
    this.rateLimitTokens = counter(M.rateLimitTokens, 'Tokens charged', '{token}');
    this.pipelineDuration = seconds(M.pipelineDuration, 'Duration of pipeline runs');
    this.stageDuration = seconds(M.stageDuration, 'Duration of pipeline stages');
    this.storeErrors = counter(M.storeErrors, 'Store failures the policies survived', '{error}');
  }

  record(event: OrchestratorEvent): void {
    switch (event.type) {
      case 'call.finished':
        return this.recordCall(event);
      case 'retry.scheduled':
        return this.retries.add(1, { policy: event.policy });
      case 'retry.gave-up':
        return this.retriesExhausted.add(1, { policy: event.policy });
      case 'circuit.rejected':
        return this.circuitRejections.add(1, { circuit: event.circuit });
      case 'circuit.state':
        this.circuitStates.set(event.circuit, event.to);
        return this.circuitTransitions.add(1, {
          circuit: event.circuit,
          from: event.from,
          to: event.to,
        });
      case 'backpressure.shed':
        return this.sheds.add(1, { guard: event.guard, waited: event.waited });
      case 'dedupe.hit':
        return this.dedupeHits.add(1, { dedupe: event.dedupe, source: event.source });
      case 'dedupe.executed':
        return this.dedupeExecutions.add(1, { dedupe: event.dedupe, outcome: event.outcome });
      case 'rate-limit.refused':
        return this.rateLimitRefusals.add(1, { limiter: event.limiter, reason: event.reason });
      case 'rate-limit.charged':
        return this.rateLimitTokens.add(Math.max(0, event.tokens), { limiter: event.limiter });
      case 'pipeline.finished':
        return this.pipelineDuration.record(event.durationMs / 1000, {
          pipeline: event.pipeline,
          outcome: event.outcome,
        });
      case 'pipeline.stage.finished':
        return this.recordStage(event);
      case 'store.error':
        return this.storeErrors.add(1, { primitive: event.primitive, operation: event.operation });
      default:
        return undefined;
    }
  }

  private recordCall(event: EventOf<'call.finished'>): void {
    const attributes = { policy: event.policy, method: event.method, outcome: event.outcome };
    this.calls.add(1, attributes);
    this.callDuration.record(event.durationMs / 1000, attributes);
  }

  private recordStage(event: EventOf<'pipeline.stage.finished'>): void {
    this.stageDuration.record(event.durationMs / 1000, {
      pipeline: event.pipeline,
      stage: event.stage,
      outcome: event.outcome,
    });
  }
}
