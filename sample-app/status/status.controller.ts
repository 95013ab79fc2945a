import { Controller, Get } from '@nestjs/common';
import { StatusService, type GatewayStatus } from './status.service.js';

export type { GatewayStatus } from './status.service.js';

@Controller('orchestrator')
export class StatusController {
  constructor(private readonly status: StatusService) {}

  /** Circuits, backpressure depths and capacities, dedupe entries and event counters. */
  @Get('status')
  snapshot(): Promise<GatewayStatus> {
    return this.status.snapshot();
  }
}
