import { configProblem, errorText } from './redis-errors.js';
import type { RedisStoreEvent, RedisStoreLogger } from './redis-options.js';

/**
 * Where the backend's events go: every event to `onEvent`, the ones an operator must see to the
 * logger. A permission or configuration refusal is logged once per kind (NOPERM, READONLY...),
 * as an error that says what to fix, and again only after Redis has recovered meanwhile: every
 * call fails the same way until it is fixed, and one line is louder than thousands.
 */
export class BackendReporter {
  private readonly reported = new Set<string>();

  constructor(
    private readonly logger: RedisStoreLogger,
    private readonly onEvent?: (event: RedisStoreEvent) => void,
  ) {}

  emit(event: RedisStoreEvent): void {
    try {
      this.onEvent?.(event);
    } catch {
      // A throwing listener must not break a decision.
    }
    if (event.type === 'redis.recovered') this.reported.clear();
    if (event.type === 'redis.misconfigured') return this.logError(describeMisconfigured(event));
    const message = describeEvent(event);
    if (message !== undefined) this.logger.warn(message);
  }

  /** A failed round trip: `redis.error`, after `refused` for a refusal an operator must fix. */
  failed(operation: string, error: unknown): void {
    this.refused(operation, error);
    this.emit({ type: 'redis.error', operation, error });
  }

  /** `redis.misconfigured`, the first time a refusal of its kind (NOPERM...) is seen. */
  refused(operation: string, error: unknown): void {
    const problem = configProblem(error);
    if (problem === undefined || this.reported.has(problem.code)) return;
    this.reported.add(problem.code);
    this.emit({ type: 'redis.misconfigured', operation, error, fix: problem.fix });
  }

  /** A warning for the operator (a risky setting): `redis.warning`, logged. */
  warn(message: string): void {
    this.emit({ type: 'redis.warning', message });
  }

  /** Informational (a check that could not run): `log`, when the logger has it. */
  info(message: string): void {
    this.logger.log?.(message);
  }

  private logError(message: string): void {
    if (this.logger.error !== undefined) this.logger.error(message);
    else this.logger.warn(message);
  }
}

function describeMisconfigured(
  event: Extract<RedisStoreEvent, { type: 'redis.misconfigured' }>,
): string {
  return `Redis refused ${event.operation} (${errorText(event.error)}): ${event.fix}. Until then the stores run in degraded mode: in-process behaviour, or shedding for a backpressure store with failClosed`;
}

function describeEvent(event: RedisStoreEvent): string | undefined {
  switch (event.type) {
    case 'redis.degraded':
      return `Redis unavailable (${errorText(event.error)}): degraded mode, in-process behaviour for ${event.retryInMs} ms before the next try`;
    case 'redis.recovered':
      return `Redis is back after ${Math.round(event.degradedForMs)} ms in degraded mode`;
    case 'redis.lease-lost':
      return `${event.primitive} "${event.name}": a lease expired while held (process paused or Redis lost it); the fleet may briefly exceed its guarantee`;
    case 'redis.warning':
      return event.message;
    default:
      return undefined;
  }
}
