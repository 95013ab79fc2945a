import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import { Orchestrator, type CircuitState, type OrchestratorEvent } from '../../lib/index.js';

/** Counters of what the policies did, collected from `Orchestrator.events$`. */
export interface OrchestratorCounters {
  /** Calls answered by an identical call in flight or by the cache (no provider call). */
  dedupeHits: number;
  /** Calls that ran because no identical call was in flight or cached. */
  dedupeExecutions: number;
  /** Calls refused by backpressure (429). */
  sheds: number;
  /** Retries scheduled after a failed attempt. */
  retries: number;
  /** Calls that failed after their last attempt. */
  retriesExhausted: number;
  /** Times a circuit opened. */
  circuitOpens: number;
  /** Calls a circuit refused (503). */
  circuitRejections: number;
  /** Calls the gateway's rate limiter refused (429), and calls it made wait for capacity. */
  rateLimitRefusals: number;
  rateLimitWaits: number;
  /** Pauses of a limiter after a provider 429 with a reset hint. */
  rateLimitCooldowns: number;
  /** Tokens charged to the limiters (the usage the provider reported, else the estimate). */
  tokensCharged: number;
  /** Pipeline runs finished, by outcome. */
  pipelineRuns: { success: number; failure: number; aborted: number };
}

/** Calls of the protected methods by outcome, counted from `call.finished`. */
export interface CallCounts {
  success: number;
  failure: number;
  rejected: number;
}

export interface CircuitTransitionRecord {
  circuit: string;
  from: CircuitState;
  to: CircuitState;
  /** ISO timestamp. */
  at: string;
}

const MAX_TRANSITIONS = 50;

/** Subscribes to the orchestrator's events for the application's lifetime and counts them. */
@Injectable()
export class OrchestratorStats implements OnApplicationShutdown {
  readonly counters: OrchestratorCounters = {
    dedupeHits: 0,
    dedupeExecutions: 0,
    sheds: 0,
    retries: 0,
    retriesExhausted: 0,
    circuitOpens: 0,
    circuitRejections: 0,
    rateLimitRefusals: 0,
    rateLimitWaits: 0,
    rateLimitCooldowns: 0,
    tokensCharged: 0,
    pipelineRuns: { success: 0, failure: 0, aborted: 0 },
  };
  readonly calls: CallCounts = { success: 0, failure: 0, rejected: 0 };
  /** The latest circuit transitions, oldest first. */
  readonly transitions: CircuitTransitionRecord[] = [];
  private readonly subscription: Subscription;

  constructor(orchestrator: Orchestrator) {
    this.subscription = orchestrator.events$.subscribe((event) => this.count(event));
  }

  onApplicationShutdown(): void {
    this.subscription.unsubscribe();
  }

  private count(event: OrchestratorEvent): void {
    const c = this.counters;
    switch (event.type) {
      case 'dedupe.hit':
        c.dedupeHits++;
        break;
      case 'dedupe.executed':
        c.dedupeExecutions++;
        break;
      case 'backpressure.shed':
        c.sheds++;
        break;
      case 'retry.scheduled':
        c.retries++;
        break;
      case 'retry.gave-up':
        c.retriesExhausted++;
        break;
      case 'circuit.rejected':
        c.circuitRejections++;
        break;
      case 'circuit.state':
        if (event.to === 'open') c.circuitOpens++;
        this.transitions.push({
          circuit: event.circuit,
          from: event.from,
          to: event.to,
          at: new Date(event.at).toISOString(),
        });
        if (this.transitions.length > MAX_TRANSITIONS) this.transitions.shift();
        break;
      case 'call.finished':
        this.calls[event.outcome]++;
        break;
      case 'rate-limit.refused':
        c.rateLimitRefusals++;
        break;
      case 'rate-limit.waiting':
        c.rateLimitWaits++;
        break;
      case 'rate-limit.cooldown':
        c.rateLimitCooldowns++;
        break;
      case 'rate-limit.charged':
        c.tokensCharged += event.tokens;
        break;
      case 'pipeline.finished':
        c.pipelineRuns[event.outcome]++;
        break;
      default:
        break;
    }
  }
}
