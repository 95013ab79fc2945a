import 'reflect-metadata';
import { Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  Backpressure,
  CircuitBreaker,
  Dedupe,
  Fallback,
  Orchestrator,
  OrchestratorModule,
  RateLimit,
  Retry,
  Timeout,
} from '../lib/index.js';

/** Options shared with the rows that build the same layers by hand, so both paths match. */
export const CAP = { capacity: 10, maxWaitMs: 60_000 } as const;
/** Long enough that an opened circuit never reaches half-open during the run. */
export const LONG_OPEN = { recoveryWindowMs: 3_600_000 } as const;
export const OPEN_CIRCUIT = 'bench.open';
export const byPrompt = (prompt: string): string => prompt;
/** A limit no run reaches (a few million calls per second at most), so every call is admitted. */
export const NEVER_LIMITED = { requests: { limit: 1_000_000_000, intervalMs: 1_000 } } as const;
/** A timeout that never fires during a call of `async () => 42`. */
export const LIMIT_MS = 30_000;
export const fallbackValue = (): number => 0;

/** A provider whose methods are the protected operation `async () => 42` under each policy. */
@Injectable()
export class BenchService {
  /** The 1 ms operation of the dedupe scenario; set by the bench before use. */
  slowOperation: () => Promise<number> = async () => 42;

  @CircuitBreaker()
  async closed(): Promise<number> {
    return 42;
  }

  @CircuitBreaker({ name: OPEN_CIRCUIT, ...LONG_OPEN })
  async open(): Promise<number> {
    return 42;
  }

  @Retry()
  async retried(): Promise<number> {
    return 42;
  }

  @Backpressure(CAP)
  async capped(): Promise<number> {
    return 42;
  }

  @Backpressure(CAP)
  @CircuitBreaker()
  @Retry()
  async stack(): Promise<number> {
    return 42;
  }

  @Backpressure(CAP)
  @Dedupe({ key: byPrompt })
  @CircuitBreaker()
  @Retry()
  async stackWithDedupe(_prompt: string): Promise<number> {
    return 42;
  }

  @RateLimit(NEVER_LIMITED)
  async rateLimited(): Promise<number> {
    return 42;
  }

  @Timeout(LIMIT_MS)
  async timed(): Promise<number> {
    return 42;
  }

  @Fallback(fallbackValue)
  async withFallback(): Promise<number> {
    return 42;
  }

  @Dedupe({ key: byPrompt })
  slow(_prompt: string): Promise<number> {
    return this.slowOperation();
  }
}

@Module({
  imports: [OrchestratorModule.forRoot()],
  providers: [BenchService],
})
class BenchModule {}

export interface BenchApp {
  readonly context: INestApplicationContext;
  /** The provider Nest created and bound to the module's policies. */
  readonly service: BenchService;
  /** The same class created with `new`, no Nest: its decorators run on private in-memory state. */
  readonly standalone: BenchService;
}

/** A real application context, as a user's `main.ts` creates it, with the breaker opened. */
export async function createBenchApp(): Promise<BenchApp> {
  const context = await NestFactory.createApplicationContext(BenchModule, { logger: false });
  await context.get(Orchestrator).circuit(OPEN_CIRCUIT).open();
  return { context, service: context.get(BenchService), standalone: new BenchService() };
}
