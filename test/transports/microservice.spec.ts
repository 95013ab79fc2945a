import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Catch, Controller, type INestMicroservice, type RpcExceptionFilter } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import {
  ClientProxyFactory,
  MessagePattern,
  RpcException,
  Transport,
  type ClientProxy,
} from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import type { AddressInfo, Server } from 'node:net';
import { lastValueFrom, of, throwError, type Observable } from 'rxjs';
import {
  CircuitBreaker,
  Orchestrator,
  OrchestratorExceptionFilter,
  OrchestratorModule,
} from '../../lib/index.js';

const policies = { llm: { circuitBreaker: { name: 'llm', recoveryWindowMs: 12_500 } } };
let ran = 0;

@Controller()
class CompletionHandlers {
  @CircuitBreaker('llm')
  @MessagePattern('complete')
  async complete(): Promise<string> {
    ran++;
    return 'ok';
  }

  @CircuitBreaker('llm')
  @MessagePattern('stream')
  stream(): Observable<string> {
    ran++;
    return of('ok');
  }
}

/** An application's own catch-all RPC filter: it records what it sees and answers as Nest does. */
@Catch()
class AppRpcFilter implements RpcExceptionFilter {
  static readonly seen: unknown[] = [];
  catch(exception: unknown): Observable<never> {
    AppRpcFilter.seen.push(exception);
    const error =
      exception instanceof RpcException ? exception.getError() : { message: 'app: unknown' };
    return throwError(() => error);
  }
}

const openCircuitBody = {
  statusCode: 503,
  error: 'CircuitOpenError',
  code: 'CIRCUIT_OPEN',
  message: expect.stringContaining('circuit "llm" is open'),
  retryAfter: 13,
};

describe('library errors over a TCP microservice', () => {
  let service: INestMicroservice | undefined;
  let client: ClientProxy | undefined;
  afterEach(async () => {
    await client?.close();
    await service?.close();
    client = service = undefined;
    AppRpcFilter.seen.length = 0;
    ran = 0;
  });

  async function start(
    providers: { provide: typeof APP_FILTER; useClass: unknown }[] = [],
    mapErrors = true,
  ) {
    const moduleRef = await Test.createTestingModule({
      imports: [OrchestratorModule.forRoot({ policies, mapErrors })],
      controllers: [CompletionHandlers],
      providers: providers as never[],
    }).compile();
    service = moduleRef.createNestMicroservice({
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port: 0 },
      logger: false,
    });
    await service.listen();
    const { port } = service.unwrap<Server>().address() as AddressInfo;
    client = ClientProxyFactory.create({
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port },
    });
    await service.get(Orchestrator).circuit('llm').open();
  }

  it.each(['complete', 'stream'])(
    'the app’s catch-all filter sees an RpcException for an open circuit (%s)',
    async (pattern) => {
      await start([{ provide: APP_FILTER, useClass: AppRpcFilter }]);

      await expect(lastValueFrom(client!.send(pattern, {}))).rejects.toEqual(openCircuitBody);
      expect(AppRpcFilter.seen).toHaveLength(1);
      expect(AppRpcFilter.seen[0]).toBeInstanceOf(RpcException);
      expect(ran).toBe(0);
    },
  );

  it('Nest’s own RPC filter sends the body to the client', async () => {
    await start();
    await expect(lastValueFrom(client!.send('complete', {}))).rejects.toEqual(openCircuitBody);
  });

  it('with mapErrors: false, OrchestratorExceptionFilter (APP_FILTER) sends the same body', async () => {
    await start([{ provide: APP_FILTER, useClass: OrchestratorExceptionFilter }], false);
    await expect(lastValueFrom(client!.send('stream', {}))).rejects.toEqual(openCircuitBody);
  });
});
