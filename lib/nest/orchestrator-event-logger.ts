import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { Clock } from '../core/clock.js';
import type { CircuitState, EventBus, OrchestratorEvent } from '../core/events.js';
import { ORCHESTRATOR_CLOCK, ORCHESTRATOR_EVENTS } from './orchestrator.constants.js';

/** At most one "retries exhausted" line per policy in this many milliseconds. */
export const GAVE_UP_LOG_INTERVAL_MS = 10_000;

type Transition = `${CircuitState}->${CircuitState}`;

/** Why a circuit moves, from where it was and where it goes. */
const REASONS: Partial<Record<Transition, string>> = {
  'closed->open': 'failures reached the breaker threshold (or open() was called)',
  'half-open->open': 'a probe call failed',
  'open->half-open': 'the recovery window elapsed; probe calls may run',
  'half-open->closed': 'a probe call succeeded',
  'open->closed': 'closed by hand (close())',
  'half-open->half-open': 'reset by hand',
};

interface GaveUpWindow {
  /** When the last line for this policy was written. */
  loggedAt: number;
  /** Exhaustions since then that got no line of their own. */
  suppressed: number;
}

/**
 * Logs what an operator needs to know through Nest's `Logger` (context `Orchestrator`): each
 * circuit transition with its reason, and exhausted retries at most once per policy every
 * `GAVE_UP_LOG_INTERVAL_MS` (with the count of those not logged). Never a line per call.
 * Redis degraded mode is logged by the Redis stores themselves (context `RedisStores`).
 *
 * It listens only while Nest logs warnings: with `logger: false` it does not subscribe, so
 * the policies' hot paths keep skipping their events.
 */
@Injectable()
export class OrchestratorEventLogger implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Orchestrator');
  private readonly gaveUp = new Map<string, GaveUpWindow>();
  private unsubscribe: (() => void) | undefined;

  constructor(
    @Inject(ORCHESTRATOR_EVENTS) private readonly bus: EventBus,
    @Inject(ORCHESTRATOR_CLOCK) private readonly clock: Clock,
  ) {}

  onModuleInit(): void {
    if (!Logger.isLevelEnabled('warn')) return;
    // Notable events only: a subscription to every event would make each call build its own.
    this.unsubscribe = this.bus.onNotable((event) => this.log(event));
  }

  onApplicationShutdown(): void {
    this.unsubscribe?.();
  }

  private log(event: OrchestratorEvent): void {
    if (event.type === 'circuit.state') this.logTransition(event);
    else if (event.type === 'retry.gave-up') this.logGaveUp(event);
  }

  private logTransition(event: Extract<OrchestratorEvent, { type: 'circuit.state' }>): void {
    const reason = REASONS[`${event.from}->${event.to}`] ?? 'state changed';
    const line = `circuit "${event.circuit}" ${event.from} -> ${event.to}: ${reason}`;
    if (event.to === 'open') this.logger.warn(line);
    else this.logger.log(line);
  }

  private logGaveUp(event: Extract<OrchestratorEvent, { type: 'retry.gave-up' }>): void {
    const now = this.clock.now();
    const window = this.gaveUp.get(event.policy);
    if (window !== undefined && now - window.loggedAt < GAVE_UP_LOG_INTERVAL_MS) {
      window.suppressed++;
      return;
    }
    const earlier =
      window !== undefined && window.suppressed > 0
        ? ` (${window.suppressed} more since the last report)`
        : '';
    this.gaveUp.set(event.policy, { loggedAt: now, suppressed: 0 });
    this.logger.warn(
      `retry "${event.policy}" gave up after ${event.attempts} attempts: ${describe(event.error)}${earlier}`,
    );
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
