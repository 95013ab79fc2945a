import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Get, Header, Headers, Param, type INestApplication } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { lastValueFrom, type Observable } from 'rxjs';
import {
  CircuitBreaker,
  CircuitOpenError,
  Orchestrator,
  OrchestratorExceptionFilter,
  OrchestratorModule,
  Retry,
} from '../lib/index.js';

const attempts = new Map<string, number>();

@Controller('items')
class ItemsController {
  /** Fails on the first attempt of each id, so one retry is needed. */
  @CircuitBreaker({ name: 'items', threshold: 2, recoveryWindowMs: 30_000 })
  @Retry({ maxAttempts: 2, baseDelayMs: 1, jitter: 'none' })
  @Header('x-served-by', 'items')
  @Get(':id')
  async find(@Param('id') id: string, @Headers('x-tenant') tenant: string) {
    const attempt = (attempts.get(id) ?? 0) + 1;
    attempts.set(id, attempt);
    if (id.startsWith('down')) throw new Error('downstream unavailable');
    if (attempt === 1) throw new Error('transient');
    return { id, tenant, attempt };
  }
}

describe('a protected controller route over real HTTP', () => {
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [OrchestratorModule.forRoot()],
      controllers: [ItemsController],
      providers: [{ provide: APP_FILTER, useClass: OrchestratorExceptionFilter }],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    base = `${await app.getUrl()}/items`.replace('[::1]', '127.0.0.1');
  });

  afterAll(() => app.close());

  it('keeps the route, its params, headers and response headers, and retries', async () => {
    const response = await fetch(`${base}/42`, { headers: { 'x-tenant': 'acme' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-served-by')).toBe('items');
    expect(await response.json()).toEqual({ id: '42', tenant: 'acme', attempt: 2 });
  });

  it('opens the circuit after the threshold and answers 503 with Retry-After', async () => {
    expect((await fetch(`${base}/down-1`)).status).toBe(500);
    expect((await fetch(`${base}/down-2`)).status).toBe(500);
    expect(await app.get(Orchestrator).circuit('items').state()).toBe('open');

    const rejected = await fetch(`${base}/down-3`);
    expect(rejected.status).toBe(503);
    expect(Number(rejected.headers.get('retry-after'))).toBe(30);
    expect(await rejected.json()).toMatchObject({ statusCode: 503, error: 'CircuitOpenError' });
    expect(attempts.has('down-3')).toBe(false); // the method never ran
  });
});

describe('OrchestratorExceptionFilter outside HTTP', () => {
  it('answers an RPC call with the error body instead of replying as if it were HTTP', async () => {
    const filter = new OrchestratorExceptionFilter();
    const rpcHost = { getType: () => 'rpc' } as any;
    const answer = filter.catch(new CircuitOpenError('c', 1000), rpcHost) as Observable<never>;
    await expect(lastValueFrom(answer)).rejects.toEqual({
      statusCode: 503,
      error: 'CircuitOpenError',
      code: 'CIRCUIT_OPEN',
      message: 'circuit "c" is open; retry after 1000 ms',
      retryAfter: 1,
    });
  });

  it('rethrows the error in a context it does not know (a custom transport)', () => {
    const filter = new OrchestratorExceptionFilter();
    const error = new CircuitOpenError('c', 1000);
    expect(() => filter.catch(error, { getType: () => 'kafka-custom' } as any)).toThrow(error);
  });
});
