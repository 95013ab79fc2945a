import type { CallHandler, ExecutionContext, NestInterceptor, Provider } from '@nestjs/common';
import { APP_INTERCEPTOR, HttpAdapterHost } from '@nestjs/core';
import { catchError, from, mergeMap, throwError, type Observable } from 'rxjs';
import { check } from '../core/validate.js';
import { orchestratorErrorBody, toHttpException } from './error-mapping.js';
import { ORCHESTRATOR_RESOLVED_OPTIONS } from './orchestrator.constants.js';
import type { OrchestratorModuleOptions } from './orchestrator-options.interface.js';
import { setRetryAfter, transportExceptionFactory } from './transport-exceptions.js';

/**
 * Maps the library's refusals thrown by any handler to the exception its transport expects:
 * `HttpException` with `Retry-After` (HTTP), `RpcException` (microservices), `WsException`
 * (gateways), `GraphQLError` with `extensions.code` and `extensions.retryAfter` (resolvers).
 * Application filters then see an ordinary exception with the right status. Every other error
 * passes through untouched. `OrchestratorModule` registers it globally unless `mapErrors: false`.
 */
export class OrchestratorErrorsInterceptor implements NestInterceptor {
  /** `adapterHost` sets headers on any platform; without it the response object is used. */
  constructor(private readonly adapterHost?: HttpAdapterHost) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(catchError((error: unknown) => this.map(error, context)));
  }

  private map(error: unknown, context: ExecutionContext): Observable<never> {
    const body = orchestratorErrorBody(error);
    if (!body) return throwError(() => error);
    const type = context.getType<string>();
    if (type === 'http') {
      const response = context.switchToHttp().getResponse<unknown>();
      if (body.retryAfter !== undefined) {
        setRetryAfter(response, body.retryAfter, this.adapterHost?.httpAdapter);
      }
      return throwError(() => toHttpException(error));
    }
    return from(transportExceptionFactory(type)).pipe(
      mergeMap((build) => throwError(() => (build ? build(body, error) : error))),
    );
  }
}

/** What `mapErrors: false` registers: the options arrive too late (`forRootAsync`) to register none. */
const passThrough: NestInterceptor = { intercept: (_context, next) => next.handle() };

/** The global interceptor, mapping the library's errors unless the options say `mapErrors: false`. */
export const errorMappingProvider: Provider = {
  provide: APP_INTERCEPTOR,
  useFactory: (options: OrchestratorModuleOptions, adapterHost?: HttpAdapterHost) => {
    const mapErrors: unknown = options.mapErrors ?? true;
    const path = 'OrchestratorModule options: mapErrors';
    check(typeof mapErrors === 'boolean', path, 'a boolean', mapErrors);
    return mapErrors ? new OrchestratorErrorsInterceptor(adapterHost) : passThrough;
  },
  inject: [ORCHESTRATOR_RESOLVED_OPTIONS, { token: HttpAdapterHost, optional: true }],
};
