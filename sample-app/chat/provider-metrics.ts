import { Injectable } from '@nestjs/common';

/** Counts the requests the gateway actually sent to the LLM provider (every attempt). */
@Injectable()
export class ProviderMetrics {
  calls = 0;
  failures = 0;
  streams = 0;

  async track<T>(call: () => Promise<T>): Promise<T> {
    this.calls++;
    try {
      return await call();
    } catch (error) {
      this.failures++;
      throw error;
    }
  }
}
