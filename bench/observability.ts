import 'reflect-metadata';
import { Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { OrchestratorModule } from '../lib/index.js';
import { OrchestratorMetricsModule, type OrchestratorMetricsOptions } from '../lib/otel/index.js';
import { sequentialRow, type Row } from './harness.js';
import { BenchService } from './nest-app.js';

/** The hot-path cost of observability: the same 3-decorator stack, metrics off and on. */
export const OBSERVABILITY_SCENARIO = {
  id: 'observability',
  title: 'observability: 3 decorators, metrics off and on',
};

/** A Nest application context like the bench's own, with the metrics module when asked. */
async function app(metrics?: OrchestratorMetricsOptions): Promise<INestApplicationContext> {
  const imports = [OrchestratorModule.forRoot()];
  if (metrics !== undefined) imports.push(OrchestratorMetricsModule.forRoot(metrics));
  @Module({ imports, providers: [BenchService] })
  class ObservedModule {}
  return NestFactory.createApplicationContext(ObservedModule, { logger: false });
}

/**
 * Rows: metrics off (what every user pays: nothing listens, no call layer); metrics on with the
 * API's no-op meter (no SDK installed); metrics on with the OpenTelemetry SDK aggregating every
 * call. No row subscribes to a diagnostics channel: channels are process-wide, so a subscriber
 * would make every other row of the run build its events too. Returns a cleanup.
 */
export async function observabilityRows(): Promise<{ rows: Row[]; close: () => Promise<void> }> {
  const off = await app();
  const noop = await app({});
  const sdk = await app({ meterProvider: new MeterProvider() });
  const contexts = [off, noop, sdk];
  const services = contexts.map((context) => context.get(BenchService));
  const scenario = OBSERVABILITY_SCENARIO.id;
  const row = (label: string, service: BenchService): Row =>
    sequentialRow({
      scenario,
      label,
      kind: 'ours',
      call: () => service.stack(),
      expect: 'resolve',
    });
  const rows = [
    row('metrics off (default)', services[0]),
    row('metrics on, no SDK (no-op meter)', services[1]),
    row('metrics on, OpenTelemetry SDK', services[2]),
  ];
  const close = async () => {
    for (const context of contexts) await context.close();
  };
  return { rows, close };
}
