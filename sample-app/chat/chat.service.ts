import { Injectable } from '@nestjs/common';
import OpenAI from 'openai';
import { Backpressure, CircuitBreaker, Dedupe, Retry } from '../../lib/index.js';
import { LLM_POLICY, LLM_STREAM_POLICY } from '../config/gateway.config.js';
import type { ChatAnswer } from './chat.types.js';
import { ProviderMetrics } from './provider-metrics.js';

/**
 * Calls the LLM provider through the official openai SDK (its own retries off: the policies
 * below decide). The decorators apply in the order they are written, outermost first:
 *
 * - `@Backpressure`: at most `LLM_CAPACITY` provider calls in flight; past it, 429;
 * - `@Dedupe`: identical concurrent prompts share one provider call;
 * - `@CircuitBreaker`: after `LLM_BREAKER_THRESHOLD` failed calls, fail fast with 503;
 * - `@Retry`: 408/409/429/5xx and connection errors retried, honouring `Retry-After`.
 */
@Injectable()
export class ChatService {
  constructor(
    private readonly openai: OpenAI,
    private readonly metrics: ProviderMetrics,
  ) {}

  @Backpressure(LLM_POLICY)
  @Dedupe(LLM_POLICY)
  @CircuitBreaker(LLM_POLICY)
  @Retry(LLM_POLICY)
  async complete(prompt: string, model: string): Promise<ChatAnswer> {
    const completion = await this.metrics.track(
      () =>
        this.openai.chat.completions.create({
          model,
          messages: [{ role: 'user', content: prompt }],
        }),
      model,
    );
    return {
      answer: completion.choices[0]?.message.content ?? '',
      model: completion.model,
      id: completion.id,
      usage: completion.usage,
    };
  }

  /**
   * The answer's tokens as they arrive. The stream holds its backpressure slot until it ends or
   * its consumer leaves; it is retried only if it fails before its first token.
   */
  @Backpressure(LLM_POLICY)
  @Dedupe(LLM_STREAM_POLICY)
  @CircuitBreaker(LLM_POLICY)
  @Retry(LLM_POLICY)
  async *stream(prompt: string, model: string): AsyncGenerator<string> {
    const stream = await this.metrics.track(
      () =>
        this.openai.chat.completions.create({
          model,
          messages: [{ role: 'user', content: prompt }],
          stream: true,
        }),
      model,
    );
    this.metrics.streams++;
    for await (const chunk of stream) {
      const token = chunk.choices[0]?.delta?.content;
      if (token) yield token;
    }
  }
}
