import { Catch, HttpStatus, type ArgumentsHost } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import { isCircuitOpenError } from '../circuit-breaker/circuit-open.error.js';
import { isOrchestratorError } from '../core/orchestrator.error.js';

/** Reads a shed's hint without importing the backpressure folder into the HTTP shell. */
function isShed(error: unknown): error is { retryAfterMs?: number; message: string } {
  return isOrchestratorError(error) && error.code === 'BACKPRESSURE_SHED';
}

/**
 * Answers an open circuit with 503 and a shed call with 429, both with `Retry-After` in whole
 * seconds (at least 1). Every other exception goes to Nest's default handling.
 *
 * @publicApi
 * @example
 * app.useGlobalFilters(new OrchestratorExceptionFilter(app.get(HttpAdapterHost).httpAdapter));
 * // or, with DI: { provide: APP_FILTER, useClass: OrchestratorExceptionFilter }
 */
@Catch()
export class OrchestratorExceptionFilter extends BaseExceptionFilter {
  override catch(exception: unknown, host: ArgumentsHost): void {
    // Outside HTTP (RPC, WebSocket, standalone contexts) this filter has no answer to give;
    // rethrowing hands the error back to Nest's own handling there, as its external filter does.
    if (host.getType() !== 'http') throw exception;
    const status = statusOf(exception);
    if (status === undefined) return super.catch(exception, host);
    const adapter = this.applicationRef ?? this.httpAdapterHost?.httpAdapter;
    if (!adapter) return super.catch(exception, host);
    const error = exception as { retryAfterMs?: number; message: string; name: string };
    const retryAfter = Math.max(1, Math.ceil((error.retryAfterMs ?? 1000) / 1000));
    const response = host.switchToHttp().getResponse();
    adapter.setHeader(response, 'Retry-After', String(retryAfter));
    adapter.reply(
      response,
      { statusCode: status, error: error.name, message: error.message, retryAfter },
      status,
    );
  }
}

function statusOf(exception: unknown): number | undefined {
  if (isCircuitOpenError(exception)) return HttpStatus.SERVICE_UNAVAILABLE;
  if (isShed(exception)) return HttpStatus.TOO_MANY_REQUESTS;
  return undefined;
}
