import { Catch, type ArgumentsHost } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import { throwError } from 'rxjs';
import {
  MappedOrchestratorError,
  orchestratorErrorBody,
  type OrchestratorErrorBody,
} from './error-mapping.js';
import { replyJson, setRetryAfter, transportExceptionFactory } from './transport-exceptions.js';

/**
 * Answers the library's refusals on every transport: over HTTP an open circuit with 503, a shed
 * or rate-limited call with 429 and a timeout with 504, with `Retry-After` in whole seconds (at
 * least 1) when the error gives a hint; the same body as an RPC error, a WebSocket `exception`
 * message or a `GraphQLError`. It catches nothing else, so an application's own catch-all
 * filter keeps every other error whatever the order the two are registered in. The interceptor
 * that `OrchestratorModule` registers (`mapErrors`, on by default) already maps these errors;
 * this filter is for applications that turn it off.
 *
 * @publicApi
 * @example
 * app.useGlobalFilters(new OrchestratorExceptionFilter());
 * // or, with DI: { provide: APP_FILTER, useClass: OrchestratorExceptionFilter }
 */
@Catch(MappedOrchestratorError)
export class OrchestratorExceptionFilter extends BaseExceptionFilter {
  override catch(exception: unknown, host: ArgumentsHost): unknown {
    const body = orchestratorErrorBody(exception);
    // Unreachable through Nest (`@Catch` selects only mapped errors); a direct call gets it back.
    if (!body) throw exception;
    switch (host.getType<string>()) {
      case 'http':
        return this.replyHttp(body, host);
      case 'rpc':
        // What Nest's RPC filter sends for an `RpcException` carrying an object.
        return throwError(() => body);
      case 'ws':
        return sendWsException(host.switchToWs().getClient(), body);
      case 'graphql':
        // A resolver's value that is an Error is reported as that error.
        return transportExceptionFactory('graphql').then((build) =>
          build ? build(body, exception) : exception,
        );
      default:
        throw exception;
    }
  }

  private replyHttp(body: OrchestratorErrorBody, host: ArgumentsHost): void {
    // Constructed with no argument and registered with `useGlobalFilters`, the filter has no
    // adapter; the response object itself is then enough on Express, Fastify and node:http.
    const adapter = this.applicationRef ?? this.httpAdapterHost?.httpAdapter;
    const response = host.switchToHttp().getResponse<unknown>();
    if (body.retryAfter !== undefined) setRetryAfter(response, body.retryAfter, adapter);
    replyJson(response, body, body.statusCode, adapter);
  }
}

/** What Nest's WebSocket filter sends for a `WsException`: `ws` sockets get JSON, Socket.IO an event. */
function sendWsException(client: unknown, body: OrchestratorErrorBody): void {
  const socket = client as {
    readyState?: unknown;
    send?(data: string): void;
    emit?(event: string, data: unknown): void;
  };
  if (typeof socket.readyState === 'number' && typeof socket.send === 'function') {
    socket.send(JSON.stringify({ event: 'exception', data: body }));
  } else {
    socket.emit?.('exception', body);
  }
}
