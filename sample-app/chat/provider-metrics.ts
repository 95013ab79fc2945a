import { Injectable } from '@nestjs/common';
import {
  isCircuitOpenError,
  isStreamInterruptedError,
  isTimeoutError,
  type TimeoutPhase,
} from '../../lib/index.js';

/** Why the secondary model answered instead of the primary. */
export type FallbackReason = 'circuit-open' | 'timeout' | 'provider-error' | 'stream-interrupted';

/** One request to the provider, as `ProviderMetrics` saw it end. */
export interface ProviderCallRecord {
  /** The model asked for. */
  requestModel: string | undefined;
  durationMs: number;
  /** The answer (a completion, or the stream object of a streamed one), when it came. */
  result?: unknown;
  error?: unknown;
}

/** Counts the requests the gateway actually sent to the LLM provider (every attempt). */
@Injectable()
export class ProviderMetrics {
  calls = 0;
  failures = 0;
  streams = 0;
  private readonly listeners: Array<(record: ProviderCallRecord) => void> = [];
  /** Answers (or stream continuations) the secondary model gave, by why the primary failed. */
  readonly fallbacks: Record<FallbackReason, number> = {
    'circuit-open': 0,
    timeout: 0,
    'provider-error': 0,
    'stream-interrupted': 0,
  };

  /**
   * Provider attempts cut short by a `@Timeout`, by phase. Counted here, from the attempt's
   * signal, because a timeout that is not retried reaches no event of the orchestrator.
   */
  readonly timeouts: Record<TimeoutPhase, number> = { call: 0, 'first-item': 0, idle: 0 };

  /** Hears every provider request when it ends (the GenAI client metrics use it). */
  onCall(listener: (record: ProviderCallRecord) => void): void {
    this.listeners.push(listener);
  }

  async track<T>(call: () => Promise<T>, requestModel?: string): Promise<T> {
    this.calls++;
    const started = performance.now();
    try {
      const result = await call();
      this.report({ requestModel, durationMs: performance.now() - started, result });
      return result;
    } catch (error) {
      this.failures++;
      this.report({ requestModel, durationMs: performance.now() - started, error });
      throw error;
    }
  }

  private report(record: ProviderCallRecord): void {
    for (const listener of this.listeners) listener(record);
  }

  /** Counts the attempt's timeout, if that is how it ended (its signal says so). */
  noteTimeout(signal: AbortSignal | undefined): void {
    const reason: unknown = signal?.reason;
    if (signal?.aborted && isTimeoutError(reason)) this.timeouts[reason.phase]++;
  }

  /** Counts a fallback and says why it happened. */
  fellBack(error: unknown): FallbackReason {
    const reason: FallbackReason = isStreamInterruptedError(error)
      ? 'stream-interrupted'
      : isCircuitOpenError(error)
        ? 'circuit-open'
        : isTimeoutError(error)
          ? 'timeout'
          : 'provider-error';
    this.fallbacks[reason]++;
    return reason;
  }
}
