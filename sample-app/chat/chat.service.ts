import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import OpenAI from 'openai';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import {
  Backpressure,
  CircuitBreaker,
  Dedupe,
  Fallback,
  RateLimit,
  Retry,
  Signal,
  Timeout,
  isCircuitOpenError,
  isStreamInterruptedError,
} from '../../lib/index.js';
import { GATEWAY_CONFIG } from '../config/gateway-config.module.js';
import {
  isProviderTrouble,
  LLM_POLICY,
  LLM_STREAM_POLICY,
  SECONDARY_POLICY,
  SECONDARY_STREAM_POLICY,
  type GatewayConfig,
} from '../config/gateway.config.js';
import type { ChatAnswer, StreamItem } from './chat.types.js';
import { ProviderMetrics } from './provider-metrics.js';

/**
 * Falls back on the provider's trouble: an open circuit, a timeout, or a failure that outlived
 * the retries. A shed or rate-limited call does not (the secondary model shares those limits),
 * nor does a 400 (the secondary would refuse the same request).
 */
const fallbackOn = {
  on: (error: unknown) =>
    isCircuitOpenError(error) ||
    isProviderTrouble(isStreamInterruptedError(error) ? error.cause : error),
};

/**
 * Calls the LLM provider through the official openai SDK (its own retries off: the policies
 * decide). The decorators apply in the order they are written, outermost first:
 *
 * - `@Fallback`: the secondary model answers when the primary is in trouble (see `fallbackOn`);
 * - `@Backpressure`: at most `LLM_CAPACITY` provider calls in flight; past it, 429;
 * - `@RateLimit`: the gateway's own requests and tokens per minute, below the provider's;
 * - `@Dedupe`: identical concurrent prompts share one provider call;
 * - `@CircuitBreaker`: after `LLM_BREAKER_THRESHOLD` failed calls, fail fast;
 * - `@Retry`: 408/409/429/5xx and connection errors retried, honouring `Retry-After`;
 * - `@Timeout`: each attempt bounded; its `@Signal()` aborts the provider request, as does the
 *   HTTP client leaving (the controller passes that signal in).
 */
@Injectable()
export class ChatService {
  private readonly secondaryModel: string;

  constructor(
    private readonly openai: OpenAI,
    private readonly metrics: ProviderMetrics,
    config: ConfigService,
  ) {
    this.secondaryModel = config.getOrThrow<GatewayConfig>(GATEWAY_CONFIG).llm.secondaryModel;
  }

  @Fallback(function (this: ChatService, error, prompt: string, _model, signal?: AbortSignal) {
    return this.completeOnSecondary(prompt, this.metrics.fellBack(error), signal);
  }, fallbackOn)
  @Backpressure(LLM_POLICY)
  @RateLimit(LLM_POLICY)
  @Dedupe(LLM_POLICY)
  @CircuitBreaker(LLM_POLICY)
  @Retry(LLM_POLICY)
  @Timeout(LLM_POLICY)
  async complete(
    prompt: string,
    model: string,
    @Signal() signal?: AbortSignal,
  ): Promise<ChatAnswer> {
    return this.completion(model, [{ role: 'user', content: prompt }], signal);
  }

  /** The secondary model, behind its own circuit; it shares the cap and the provider's limits. */
  @Backpressure(LLM_POLICY)
  @RateLimit(LLM_POLICY)
  @CircuitBreaker(SECONDARY_POLICY)
  @Retry(SECONDARY_POLICY)
  @Timeout(SECONDARY_POLICY)
  async completeOnSecondary(
    prompt: string,
    fallbackReason: string,
    @Signal() signal?: AbortSignal,
  ): Promise<ChatAnswer> {
    const answer = await this.completion(
      this.secondaryModel,
      [{ role: 'user', content: prompt }],
      signal,
    );
    return { ...answer, fallbackReason };
  }

  /**
   * The answer's tokens as they arrive, then `{ usage }`. The stream holds its backpressure slot
   * until it ends or its consumer leaves; it is retried only if it fails before its first
   * token. `delivered` is filled by whoever sends the tokens on (the SSE writer): a stream cut
   * short is continued by the secondary model from there.
   */
  @Fallback(function (
    this: ChatService,
    error,
    prompt: string,
    _model,
    signal?: AbortSignal,
    delivered: string[] = [],
  ) {
    this.metrics.fellBack(error);
    const sent = isStreamInterruptedError(error) ? delivered.slice(0, error.itemsDelivered) : [];
    return this.streamOnSecondary(prompt, sent.join(''), signal);
  }, fallbackOn)
  @Backpressure(LLM_POLICY)
  @RateLimit(LLM_POLICY)
  @Dedupe(LLM_STREAM_POLICY)
  @CircuitBreaker(LLM_POLICY)
  @Retry(LLM_POLICY)
  @Timeout(LLM_STREAM_POLICY)
  async *stream(
    prompt: string,
    model: string,
    @Signal() signal?: AbortSignal,
    _delivered?: string[],
  ): AsyncGenerator<StreamItem> {
    yield* this.tokens(model, [{ role: 'user', content: prompt }], signal);
  }

  /**
   * The secondary model's stream. With `partial` (what the client already has), it is asked to
   * continue that assistant message, so the client's stream goes on where the primary stopped.
   */
  @Backpressure(LLM_POLICY)
  @RateLimit(LLM_POLICY)
  @CircuitBreaker(SECONDARY_POLICY)
  @Retry(SECONDARY_POLICY)
  @Timeout(SECONDARY_STREAM_POLICY)
  async *streamOnSecondary(
    prompt: string,
    partial: string,
    @Signal() signal?: AbortSignal,
  ): AsyncGenerator<StreamItem> {
    const messages: ChatCompletionMessageParam[] = [{ role: 'user', content: prompt }];
    if (partial) messages.push({ role: 'assistant', content: partial });
    yield* this.tokens(this.secondaryModel, messages, signal);
  }

  private async completion(
    model: string,
    messages: ChatCompletionMessageParam[],
    signal: AbortSignal | undefined,
  ): Promise<ChatAnswer> {
    const completion = await this.metrics
      .track(() => this.openai.chat.completions.create({ model, messages }, { signal }), model)
      .finally(() => this.metrics.noteTimeout(signal));
    return {
      answer: completion.choices[0]?.message.content ?? '',
      model: completion.model,
      id: completion.id,
      usage: completion.usage,
    };
  }

  private async *tokens(
    model: string,
    messages: ChatCompletionMessageParam[],
    signal: AbortSignal | undefined,
  ): AsyncGenerator<StreamItem> {
    try {
      const stream = await this.metrics.track(
        () =>
          this.openai.chat.completions.create(
            { model, messages, stream: true, stream_options: { include_usage: true } },
            { signal },
          ),
        model,
      );
      this.metrics.streams++;
      for await (const chunk of stream) {
        const token = chunk.choices[0]?.delta?.content;
        if (token) yield token;
        if (chunk.usage) yield { usage: chunk.usage };
      }
    } finally {
      // The SDK ends an aborted stream quietly: the signal says whether a timeout cut it.
      this.metrics.noteTimeout(signal);
    }
  }
}
