import { Controller, Get, Injectable, Res, type OnApplicationShutdown } from '@nestjs/common';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { OrchestratorMetricsOptions } from '../../lib/otel/index.js';

/**
 * The gateway's OpenTelemetry SDK: one meter provider per application (never the global one,
 * so that two gateways in one process, as in the tests, keep their own figures), read by the
 * Prometheus exporter without a server of its own: `GET /metrics` serves it on the gateway's
 * port.
 */
@Injectable()
export class Telemetry implements OnApplicationShutdown {
  readonly exporter = new PrometheusExporter({ preventServerStart: true });
  readonly meterProvider = new MeterProvider({ readers: [this.exporter] });

  /** What `OrchestratorMetrics` records into. */
  metricsOptions(): OrchestratorMetricsOptions {
    return { meterProvider: this.meterProvider };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.meterProvider.shutdown();
  }
}

@Controller()
export class MetricsController {
  constructor(private readonly telemetry: Telemetry) {}

  /** The library's metrics (and the GenAI client metrics) in Prometheus text format. */
  @Get('metrics')
  metrics(@Res() res: ServerResponse): void {
    // The exporter writes the whole answer; it reads nothing from the request.
    this.telemetry.exporter.getMetricsRequestHandler({} as IncomingMessage, res);
  }
}
