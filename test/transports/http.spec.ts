import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import {
  Catch,
  Controller,
  Get,
  HttpException,
  type ArgumentsHost,
  type ExceptionFilter,
  type HttpServer,
  type INestApplication,
} from '@nestjs/common';
import { APP_FILTER, HttpAdapterHost } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { Observable, of } from 'rxjs';
import {
  BackpressureShedError,
  CircuitBreaker,
  Orchestrator,
  OrchestratorError,
  OrchestratorExceptionFilter,
  OrchestratorModule,
} from '../../lib/index.js';

/** Stand-ins for the rate-limit and timeout errors: matched by their code, never imported. */
class RateLimitedError extends OrchestratorError {
  constructor(readonly retryAfterMs: number) {
    super('RATE_LIMITED', `rate limit reached; retry after ${retryAfterMs} ms`);
  }
}
class TimeoutError extends OrchestratorError {
  constructor() {
    super('TIMEOUT', 'attempt timed out after 50 ms');
  }
}

let ran = 0;

@Controller('llm')
class LlmController {
  @CircuitBreaker({ name: 'llm', recoveryWindowMs: 30_000 })
  @Get('promise')
  async complete(): Promise<{ answer: string }> {
    ran++;
    return { answer: 'ok' };
  }

  @CircuitBreaker({ name: 'llm' })
  @Get('observable')
  stream(): Observable<{ answer: string }> {
    ran++;
    return of({ answer: 'ok' });
  }

  @Get('shed')
  shed(): never {
    throw new BackpressureShedError('chat', 4, 4, 1500);
  }

  @Get('rate-limited')
  async rateLimited(): Promise<never> {
    throw new RateLimitedError(2001);
  }

  @Get('timeout')
  timeout(): Observable<never> {
    return new Observable((subscriber) => subscriber.error(new TimeoutError()));
  }

  @Get('bug')
  bug(): never {
    throw new Error('a bug of the application');
  }
}

/** An application's own catch-all filter: it records what it sees and answers with its status. */
@Catch()
class AppCatchAllFilter implements ExceptionFilter {
  readonly seen: unknown[] = [];
  constructor(private readonly adapter: () => HttpServer) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    this.seen.push(exception);
    const http = exception instanceof HttpException;
    const status = http ? exception.getStatus() : 500;
    const body = { handledBy: 'app', detail: http ? exception.getResponse() : String(exception) };
    this.adapter().reply(host.switchToHttp().getResponse(), body, status);
  }
}

const platforms = [
  ['Express', () => new ExpressAdapter()],
  ['Fastify', () => new FastifyAdapter()],
] as const;

describe.each(platforms)('library errors over HTTP on %s', (_platform, createAdapter) => {
  let app: INestApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
    ran = 0;
  });

  async function start(
    options: { mapErrors?: boolean; appFilter?: 'APP_FILTER' | 'none' } = {},
    configure: (app: INestApplication) => void = () => {},
  ): Promise<{ base: string; appFilter: AppCatchAllFilter }> {
    let appFilter!: AppCatchAllFilter;
    const filterProvider = {
      provide: APP_FILTER,
      useFactory: (host: HttpAdapterHost) =>
        (appFilter = new AppCatchAllFilter(() => host.httpAdapter)),
      inject: [HttpAdapterHost],
    };
    const moduleRef = await Test.createTestingModule({
      imports: [OrchestratorModule.forRoot({ mapErrors: options.mapErrors })],
      controllers: [LlmController],
      providers: options.appFilter === 'none' ? [] : [filterProvider],
    }).compile();
    app = moduleRef.createNestApplication(createAdapter(), { logger: false });
    configure(app);
    await app.listen(0, '127.0.0.1');
    const base = `${await app.getUrl()}/llm`.replace('[::1]', '127.0.0.1');
    return { base, appFilter };
  }

  it.each(['promise', 'observable'])(
    'an open circuit reaches the app’s catch-all filter as a 503 HttpException (%s handler)',
    async (route) => {
      const { base, appFilter } = await start();
      await app!.get(Orchestrator).circuit('llm').open();

      const response = await fetch(`${base}/${route}`);

      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('30');
      expect(await response.json()).toEqual({
        handledBy: 'app',
        detail: {
          statusCode: 503,
          error: 'CircuitOpenError',
          code: 'CIRCUIT_OPEN',
          message: expect.stringContaining('circuit "llm" is open'),
          retryAfter: 30,
        },
      });
      expect(appFilter.seen).toHaveLength(1);
      expect(appFilter.seen[0]).toBeInstanceOf(HttpException);
      expect(ran).toBe(0);
    },
  );

  it.each([
    ['shed', 429, '2', 'BackpressureShedError'],
    ['rate-limited', 429, '3', 'RateLimitedError'],
    ['timeout', 504, null, 'TimeoutError'],
  ])('%s answers %i with Retry-After %s', async (route, status, retryAfter, name) => {
    const { base, appFilter } = await start();

    const response = await fetch(`${base}/${route}`);

    expect(response.status).toBe(status);
    expect(response.headers.get('retry-after')).toBe(retryAfter);
    const { detail } = (await response.json()) as { detail: Record<string, unknown> };
    expect(detail).toMatchObject({ statusCode: status, error: name });
    expect(detail.retryAfter).toBe(retryAfter === null ? undefined : Number(retryAfter));
    expect(appFilter.seen[0]).toBeInstanceOf(HttpException);
  });

  it('leaves the application’s own errors to its filter, unmapped', async () => {
    const { base, appFilter } = await start();
    const response = await fetch(`${base}/bug`);
    expect(response.status).toBe(500);
    expect(response.headers.get('retry-after')).toBeNull();
    expect(appFilter.seen).toEqual([new Error('a bug of the application')]);
  });

  it('with mapErrors: false the handler’s error reaches the app filter as it was thrown', async () => {
    const { base, appFilter } = await start({ mapErrors: false });
    const response = await fetch(`${base}/shed`);
    expect(response.status).toBe(500);
    expect(appFilter.seen[0]).toBeInstanceOf(BackpressureShedError);
  });

  it('new OrchestratorExceptionFilter() registered after an app catch-all answers only the library’s errors', async () => {
    let theirs!: AppCatchAllFilter;
    const { base } = await start({ mapErrors: false, appFilter: 'none' }, (app) => {
      theirs = new AppCatchAllFilter(() => app.getHttpAdapter());
      // Nest tries the filter registered last first: with a catch-all there, ours would never run.
      app.useGlobalFilters(theirs, new OrchestratorExceptionFilter());
    });

    const shed = await fetch(`${base}/shed`);
    expect(shed.status).toBe(429);
    expect(shed.headers.get('retry-after')).toBe('2');
    expect(await shed.json()).toMatchObject({ statusCode: 429, code: 'BACKPRESSURE_SHED' });

    const bug = await fetch(`${base}/bug`);
    expect(bug.status).toBe(500);
    expect(await bug.json()).toMatchObject({ handledBy: 'app' });
    expect(theirs.seen).toEqual([new Error('a bug of the application')]);
  });

  it('OrchestratorExceptionFilter through APP_FILTER answers a timeout with 504', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [OrchestratorModule.forRoot({ mapErrors: false })],
      controllers: [LlmController],
      providers: [{ provide: APP_FILTER, useClass: OrchestratorExceptionFilter }],
    }).compile();
    app = moduleRef.createNestApplication(createAdapter(), { logger: false });
    await app.listen(0, '127.0.0.1');
    const base = `${await app.getUrl()}/llm`.replace('[::1]', '127.0.0.1');

    const response = await fetch(`${base}/timeout`);
    expect(response.status).toBe(504);
    expect(response.headers.get('retry-after')).toBeNull();
    expect(await response.json()).toMatchObject({ statusCode: 504, error: 'TimeoutError' });
  });
});
