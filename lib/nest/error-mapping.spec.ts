import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { HttpException } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { GraphQLError } from 'graphql';
import { BackpressureShedError } from '../backpressure/backpressure-shed.error.js';
import { CircuitOpenError } from '../circuit-breaker/circuit-open.error.js';
import { InvalidOptionsError } from '../core/invalid-options.error.js';
import { OrchestratorError } from '../core/orchestrator.error.js';
import { MappedOrchestratorError, toHttpException } from './error-mapping.js';
import { OrchestratorModule } from './orchestrator.module.js';
import { transportExceptionFactory } from './transport-exceptions.js';

/** Errors the way other folders define them: only their code (or name) says what they are. */
class RateLimitedError extends OrchestratorError {
  constructor(readonly retryAfterMs: number) {
    super('RATE_LIMITED', 'rate limited');
  }
}
class TimeoutError extends OrchestratorError {
  constructor(code = 'TIMEOUT') {
    super(code, 'timed out');
  }
}

function httpOf(error: unknown): { status: number; body: unknown } {
  const exception = toHttpException(error);
  if (!(exception instanceof HttpException)) throw new Error('not mapped');
  return { status: exception.getStatus(), body: exception.getResponse() };
}

describe('toHttpException', () => {
  it.each([
    ['an open circuit', 503, 30, new CircuitOpenError('llm', 30_000)],
    ['a shed call', 429, 1, new BackpressureShedError('chat', 4, 4, 1)],
    ['a rate-limited call', 429, 3, new RateLimitedError(2_001)],
    ['a timeout', 504, undefined, new TimeoutError()],
    ['a TimeoutError with another code', 504, undefined, new TimeoutError('ATTEMPT_TIMED_OUT')],
  ])('maps %s to %i with retryAfter %s', (_label, status, retryAfter, error) => {
    const { status: actual, body } = httpOf(error);
    expect(actual).toBe(status);
    expect(body).toEqual({
      statusCode: status,
      error: error.name,
      code: error.code,
      message: error.message,
      ...(retryAfter === undefined ? {} : { retryAfter }),
    });
  });

  it('rounds retryAfter up to whole seconds, and never below 1', () => {
    expect(httpOf(new CircuitOpenError('c', 0)).body).toMatchObject({ retryAfter: 1 });
    expect(httpOf(new CircuitOpenError('c', 1_000)).body).toMatchObject({ retryAfter: 1 });
    expect(httpOf(new CircuitOpenError('c', 1_001)).body).toMatchObject({ retryAfter: 2 });
  });

  it('keeps the original error as the cause', () => {
    const error = new CircuitOpenError('c', 1);
    expect((toHttpException(error) as HttpException).cause).toBe(error);
  });

  it('maps an error of another copy of the package (same brand, other class)', () => {
    const brand = Symbol.for('nestjs-orchestrator.error');
    const foreign = Object.assign(new Error('circuit "x" is open'), {
      [brand]: true,
      name: 'CircuitOpenError',
      code: 'CIRCUIT_OPEN',
      retryAfterMs: 5_000,
    });
    expect(httpOf(foreign).status).toBe(503);
    expect(foreign instanceof MappedOrchestratorError).toBe(true);
  });

  it.each([
    ['an InvalidOptionsError', new InvalidOptionsError('p', 'should be an integer')],
    ['a plain Error', new Error('CIRCUIT_OPEN')],
    ['a look-alike without the brand', Object.assign(new Error('x'), { code: 'CIRCUIT_OPEN' })],
    ['an error whose code is an Object property', new OrchestratorError('constructor', 'x')],
    ['a string', 'CIRCUIT_OPEN'],
    ['undefined', undefined],
  ])('returns %s unchanged, and @Catch does not select it', (_label, error) => {
    expect(toHttpException(error)).toBe(error);
    expect(error instanceof MappedOrchestratorError).toBe(false);
  });
});

describe('the GraphQL mapping', () => {
  it('builds a GraphQLError with the code, the status and retryAfter in extensions', async () => {
    const build = await transportExceptionFactory('graphql');
    const cause = new RateLimitedError(1_500);
    const body = {
      statusCode: 429,
      error: cause.name,
      code: cause.code,
      message: 'm',
      retryAfter: 2,
    };
    const error = build!(body, cause) as GraphQLError;
    expect(error).toBeInstanceOf(GraphQLError);
    expect(error.message).toBe('m');
    expect(error.originalError).toBe(cause);
    expect(error.extensions).toEqual({ code: 'RATE_LIMITED', statusCode: 429, retryAfter: 2 });
  });

  it('knows no factory for a transport it does not know', async () => {
    expect(await transportExceptionFactory('kafka-custom')).toBeUndefined();
  });
});

describe('the mapErrors option', () => {
  it('refuses a value that is not a boolean, naming the field', async () => {
    const compiling = Test.createTestingModule({
      imports: [OrchestratorModule.forRoot({ mapErrors: 'yes' as unknown as boolean })],
    }).compile();
    await expect(compiling).rejects.toThrow(
      new InvalidOptionsError(
        'OrchestratorModule options: mapErrors',
        'should be a boolean, got "yes"',
      ),
    );
  });
});
