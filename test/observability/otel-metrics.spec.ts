import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { Attributes } from '@opentelemetry/api';
import { MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import {
  Backpressure,
  CircuitBreaker,
  Orchestrator,
  OrchestratorModule,
  RateLimit,
  Retry,
  type OrchestratorEvent,
} from '../../lib/index.js';
import { ORCHESTRATOR_METRICS as M, OrchestratorMetricsModule } from '../../lib/otel/index.js';

@Injectable()
class Llm {
  @Backpressure('llm')
  @CircuitBreaker('llm')
  @Retry('llm')
  async complete(prompt: string): Promise<string> {
    if (prompt === 'fail') throw new Error('provider down');
    return `answer to ${prompt}`;
  }

  @RateLimit({ name: 'api', requests: { limit: 3, intervalMs: 3_600_000 } })
  async limited(): Promise<string> {
    return 'ok';
  }
}

const policies = {
  llm: {
    backpressure: { capacity: 4 },
    circuitBreaker: { threshold: 2, recoveryWindowMs: 60_000 },
    retry: { maxAttempts: 2, baseDelayMs: 1, jitter: 'none' as const },
  },
};

/** A reader collected by hand. */
class ManualReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function start(withMetrics: boolean) {
  const reader = new ManualReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const imports = [OrchestratorModule.forRoot({ policies })];
  if (withMetrics) imports.push(OrchestratorMetricsModule.forRoot({ meterProvider }));
  const moduleRef = await Test.createTestingModule({ imports, providers: [Llm] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  apps.push(app);
  await app.init();
  return { app, llm: app.get(Llm), reader };
}

/** Every data point of `name` as `[attributes, value]`. */
function points(metrics: ResourceMetrics, name: string): Array<[Attributes, unknown]> {
  const found = metrics.scopeMetrics
    .flatMap((scope) => scope.metrics)
    .filter((metric) => metric.descriptor.name === name);
  return found.flatMap((metric) =>
    metric.dataPoints.map((point) => [point.attributes, point.value] as [Attributes, unknown]),
  );
}

function valueOf(metrics: ResourceMetrics, name: string, match: Attributes): unknown {
  const point = points(metrics, name).find(([attributes]) =>
    Object.entries(match).every(([key, value]) => attributes[key] === value),
  );
  return point?.[1];
}

/** One success, two failures (each retried once) that open the circuit, then one refusal. */
async function traffic(llm: Llm): Promise<void> {
  await llm.complete('hi');
  await expect(llm.complete('fail')).rejects.toThrow('provider down');
  await expect(llm.complete('fail')).rejects.toThrow('provider down');
  await expect(llm.complete('hi')).rejects.toThrow(/circuit "llm" is open/);
}

describe('OpenTelemetry metrics (nestjs-orchestrator/otel)', () => {
  it('counts calls by policy and outcome, retries, rejections and transitions', async () => {
    const { llm, reader } = await start(true);
    await traffic(llm);
    const { resourceMetrics: metrics } = await reader.collect();
    expect(metrics.scopeMetrics[0].scope.name).toBe('nestjs-orchestrator');
    const call = { policy: 'llm', method: 'Llm.complete' };
    expect(valueOf(metrics, M.calls, { ...call, outcome: 'success' })).toBe(1);
    expect(valueOf(metrics, M.calls, { ...call, outcome: 'failure' })).toBe(2);
    expect(valueOf(metrics, M.calls, { ...call, outcome: 'rejected' })).toBe(1);
    expect(valueOf(metrics, M.callDuration, { ...call, outcome: 'failure' })).toEqual(
      expect.objectContaining({ count: 2 }),
    );
    expect(valueOf(metrics, M.retries, { policy: 'llm' })).toBe(2);
    expect(valueOf(metrics, M.retriesExhausted, { policy: 'llm' })).toBe(2);
    expect(valueOf(metrics, M.circuitRejections, { circuit: 'llm' })).toBe(1);
    expect(valueOf(metrics, M.circuitTransitions, { from: 'closed', to: 'open' })).toBe(1);
  });

  it('reports gauges: circuit state, backpressure depth and capacity', async () => {
    const { app, llm, reader } = await start(true);
    await llm.complete('hi');
    let { resourceMetrics: metrics } = await reader.collect();
    expect(valueOf(metrics, M.circuitState, { circuit: 'llm', state: 'closed' })).toBe(1);
    expect(valueOf(metrics, M.circuitState, { circuit: 'llm', state: 'open' })).toBe(0);
    expect(valueOf(metrics, M.backpressureCapacity, { guard: 'llm' })).toBe(4);
    expect(valueOf(metrics, M.backpressureDepth, { guard: 'llm' })).toBe(0);
    await app.get(Orchestrator).circuit('llm').open();
    ({ resourceMetrics: metrics } = await reader.collect());
    expect(valueOf(metrics, M.circuitState, { circuit: 'llm', state: 'open' })).toBe(1);
    expect(valueOf(metrics, M.circuitState, { circuit: 'llm', state: 'closed' })).toBe(0);
  });

  it('reports the capacity a rate limiter has left, and its refusals', async () => {
    const { llm, reader } = await start(true);
    await llm.limited();
    let { resourceMetrics: metrics } = await reader.collect();
    expect(valueOf(metrics, M.rateLimitAvailable, { limiter: 'api', unit: 'requests' })).toBe(2);
    await llm.limited();
    await llm.limited();
    await expect(llm.limited()).rejects.toThrow(/rate limit/i);
    ({ resourceMetrics: metrics } = await reader.collect());
    expect(valueOf(metrics, M.rateLimitAvailable, { limiter: 'api', unit: 'requests' })).toBe(0);
    expect(valueOf(metrics, M.rateLimitRefusals, { limiter: 'api', reason: 'limit' })).toBe(1);
    expect(valueOf(metrics, M.calls, { policy: 'Llm.limited', outcome: 'rejected' })).toBe(1);
  });

  it('adds nothing to a call when not registered: no call layer, no call events', async () => {
    const { app, llm } = await start(false);
    const events: OrchestratorEvent[] = [];
    const subscription = app.get(Orchestrator).events$.subscribe((event) => events.push(event));
    await traffic(llm);
    subscription.unsubscribe();
    expect(events.map((event) => event.type)).not.toContain('call.finished');
    expect(events.map((event) => event.type)).toContain('circuit.rejected');
  });
});
