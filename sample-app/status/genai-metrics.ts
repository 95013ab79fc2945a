import { Injectable } from '@nestjs/common';
import type { Histogram } from '@opentelemetry/api';
import { ProviderMetrics, type ProviderCallRecord } from '../chat/provider-metrics.js';
import { Telemetry } from './telemetry.js';

/** Bucket boundaries the GenAI semantic conventions advise. */
const DURATION_BUCKETS_S = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
const TOKEN_BUCKETS = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];

interface Completion {
  model?: string;
  usage?: { prompt_tokens?: number; completion_tokens?: number };
}

/**
 * The OpenTelemetry GenAI client metrics of the gateway's provider requests (every attempt):
 * `gen_ai.client.operation.duration` and `gen_ai.client.token.usage` (tokens of non-streamed
 * answers, from their `usage`).
 */
@Injectable()
export class GenAiMetrics {
  private readonly duration: Histogram;
  private readonly tokens: Histogram;

  constructor(telemetry: Telemetry, provider: ProviderMetrics) {
    const meter = telemetry.meterProvider.getMeter('nestjs-orchestrator-sample');
    this.duration = meter.createHistogram('gen_ai.client.operation.duration', {
      description: 'GenAI operation duration',
      unit: 's',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS_S },
    });
    this.tokens = meter.createHistogram('gen_ai.client.token.usage', {
      description: 'Measures number of input and output tokens used',
      unit: '{token}',
      advice: { explicitBucketBoundaries: TOKEN_BUCKETS },
    });
    provider.onCall((record) => this.record(record));
  }

  private record({ requestModel, durationMs, result, error }: ProviderCallRecord): void {
    const completion = (result ?? {}) as Completion;
    const attributes: Record<string, string> = {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
    };
    if (requestModel !== undefined) attributes['gen_ai.request.model'] = requestModel;
    if (typeof completion.model === 'string') {
      attributes['gen_ai.response.model'] = completion.model;
    }
    if (error !== undefined) attributes['error.type'] = errorType(error);
    this.duration.record(durationMs / 1000, attributes);
    const usage = completion.usage;
    if (usage?.prompt_tokens !== undefined) {
      this.tokens.record(usage.prompt_tokens, { ...attributes, 'gen_ai.token.type': 'input' });
    }
    if (usage?.completion_tokens !== undefined) {
      this.tokens.record(usage.completion_tokens, {
        ...attributes,
        'gen_ai.token.type': 'output',
      });
    }
  }
}

/** The HTTP status of a provider error, or the error's class name. */
function errorType(error: unknown): string {
  const status = (error as { status?: unknown }).status;
  if (typeof status === 'number') return String(status);
  return error instanceof Error ? error.name : '_OTHER';
}
