import { Catch, HttpStatus, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { APIConnectionTimeoutError, APIError } from 'openai';
import { retryAfterHintMs } from '../../lib/index.js';

/**
 * Answers a provider failure that outlived the retries: the provider's 429 stays a 429 (with
 * its `Retry-After`), a timeout becomes 504, anything else 502. Scoped to the chat routes;
 * the library's own errors (open circuit, shed) reach the global `OrchestratorExceptionFilter`.
 */
@Catch(APIError)
export class ProviderErrorFilter implements ExceptionFilter {
  catch(error: APIError, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<ServerResponse>();
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const status =
      error.status === 429
        ? HttpStatus.TOO_MANY_REQUESTS
        : error instanceof APIConnectionTimeoutError
          ? HttpStatus.GATEWAY_TIMEOUT
          : HttpStatus.BAD_GATEWAY;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const hint = retryAfterHintMs(error);
    if (status === HttpStatus.TOO_MANY_REQUESTS) {
      headers['retry-after'] = String(Math.max(1, Math.ceil((hint ?? 1000) / 1000)));
    }
    const body = {
      statusCode: status,
      error: 'ProviderError',
      message: `LLM provider failed: ${error.message}`,
      providerStatus: error.status ?? null,
    };
    res.writeHead(status, headers);
    res.end(JSON.stringify(body));
  }
}
