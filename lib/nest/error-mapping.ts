import { HttpException, HttpStatus } from '@nestjs/common';
import { isOrchestratorError, type OrchestratorError } from '../core/orchestrator.error.js';

/**
 * The answer a client gets for one of the library's refusals, whatever the transport: the
 * status an HTTP client would see, the error's stable `code`, and `retryAfter` in whole seconds
 * when the error says when to come back.
 */
export interface OrchestratorErrorBody {
  statusCode: number;
  /** The error's class name, e.g. `CircuitOpenError`. */
  error: string;
  /** The error's stable `code`, e.g. `CIRCUIT_OPEN`. */
  code: string;
  message: string;
  /** Seconds until a retry may succeed (`ceil(retryAfterMs / 1000)`, at least 1). */
  retryAfter?: number;
}

/**
 * Status of each refusal that reaches clients, by `code` and by class name. Recognised through the
 * base class alone (no import of the classes), so an error from another copy of the package, or
 * from a folder this file does not import (rate limits, timeouts), is mapped all the same.
 */
const STATUS_BY_CODE = new Map<string, number>([
  ['CIRCUIT_OPEN', HttpStatus.SERVICE_UNAVAILABLE],
  ['BACKPRESSURE_SHED', HttpStatus.TOO_MANY_REQUESTS],
  ['RATE_LIMITED', HttpStatus.TOO_MANY_REQUESTS],
  ['TIMEOUT', HttpStatus.GATEWAY_TIMEOUT],
]);
const STATUS_BY_NAME = new Map<string, number>([
  ['CircuitOpenError', HttpStatus.SERVICE_UNAVAILABLE],
  ['BackpressureShedError', HttpStatus.TOO_MANY_REQUESTS],
  ['RateLimitedError', HttpStatus.TOO_MANY_REQUESTS],
  ['TimeoutError', HttpStatus.GATEWAY_TIMEOUT],
]);

/** The client-facing body of a refusal, or `undefined` for every other error (left as it is). */
export function orchestratorErrorBody(error: unknown): OrchestratorErrorBody | undefined {
  if (!isOrchestratorError(error)) return undefined;
  const statusCode = STATUS_BY_CODE.get(error.code) ?? STATUS_BY_NAME.get(error.name);
  if (statusCode === undefined) return undefined;
  const body: OrchestratorErrorBody = {
    statusCode,
    error: error.name,
    code: error.code,
    message: error.message,
  };
  const retryAfter = retryAfterSeconds(error);
  if (retryAfter !== undefined) body.retryAfter = retryAfter;
  return body;
}

/** `Retry-After` in whole seconds, rounded up and at least 1; none when the error gives no hint. */
function retryAfterSeconds(error: OrchestratorError): number | undefined {
  const ms = (error as { retryAfterMs?: unknown }).retryAfterMs;
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return undefined;
  return Math.max(1, Math.ceil(ms / 1000));
}

/**
 * Turns one of the library's refusals into an `HttpException`: `CircuitOpenError` 503,
 * `BackpressureShedError` and `RateLimitedError` 429, `TimeoutError` 504, the body carrying
 * `retryAfter` in seconds. Any other error is returned unchanged.
 *
 * @publicApi
 * @example
 * try {
 *   return await this.llm.complete(prompt);
 * } catch (error) {
 *   throw toHttpException(error);
 * }
 */
export function toHttpException<E>(error: E): HttpException | E {
  const body = orchestratorErrorBody(error);
  return body ? new HttpException(body, body.statusCode, { cause: error }) : error;
}

/**
 * Stands for "an error this library maps to a client answer" in `@Catch(...)`: Nest picks a
 * filter with `exception instanceof Type`, and this type answers that question by the errors'
 * codes instead of their prototype chain, so the filter catches errors of every copy of the
 * package and leaves all others to the application's filters.
 */
export abstract class MappedOrchestratorError {
  static [Symbol.hasInstance](value: unknown): boolean {
    return orchestratorErrorBody(value) !== undefined;
  }
}
