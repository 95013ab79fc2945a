import { Controller, Get, Header, Sse, type MessageEvent } from '@nestjs/common';
import {
  catchError,
  EMPTY,
  exhaustMap,
  filter,
  from,
  map,
  merge,
  timer,
  type Observable,
} from 'rxjs';
import { Orchestrator, type OrchestratorEvent } from '../../lib/index.js';
import { DASHBOARD_PAGE } from './dashboard.page.js';
import { StatusService } from './status.service.js';

/** How often the live stream sends a full snapshot (the chart's resolution). */
export const SNAPSHOT_INTERVAL_MS = 500;

type Transition = Extract<OrchestratorEvent, { type: 'circuit.state' }>;

/**
 * `GET /dashboard`: one HTML page, no build step. It reads `GET /orchestrator/status` once, then
 * follows `GET /dashboard/events`: every circuit transition as it happens (from `events$`), and
 * a snapshot of the policies every `SNAPSHOT_INTERVAL_MS`.
 */
@Controller('dashboard')
export class DashboardController {
  constructor(
    private readonly orchestrator: Orchestrator,
    private readonly status: StatusService,
  ) {}

  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('cache-control', 'no-store')
  page(): string {
    return DASHBOARD_PAGE;
  }

  @Sse('events')
  events(): Observable<MessageEvent> {
    const transitions = this.orchestrator.events$.pipe(
      filter((event): event is Transition => event.type === 'circuit.state'),
      map((event): MessageEvent => ({ type: 'transition', data: event })),
    );
    const snapshots = timer(0, SNAPSHOT_INTERVAL_MS).pipe(
      // A snapshot that fails (a store unreachable) is skipped; the stream goes on.
      exhaustMap(() => from(this.status.snapshot()).pipe(catchError(() => EMPTY))),
      map((snapshot): MessageEvent => ({ type: 'snapshot', data: snapshot })),
    );
    return merge(transitions, snapshots);
  }
}
