import { Injectable } from '@nestjs/common';

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
}
