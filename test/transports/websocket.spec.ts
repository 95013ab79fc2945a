import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import {
  Catch,
  UseFilters,
  type ArgumentsHost,
  type ExceptionFilter,
  type INestApplication,
  type Type,
} from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import { Test } from '@nestjs/testing';
import {
  BaseWsExceptionFilter,
  SubscribeMessage,
  WebSocketGateway,
  WsException,
} from '@nestjs/websockets';
import { Observable, of } from 'rxjs';
import WebSocket from 'ws';
import {
  CircuitBreaker,
  Orchestrator,
  OrchestratorExceptionFilter,
  OrchestratorModule,
} from '../../lib/index.js';

const policies = { llm: { circuitBreaker: { name: 'llm', recoveryWindowMs: 4_200 } } };
let ran = 0;

/** Global filters (APP_FILTER) do not reach gateways in Nest: a gateway names its filters. */
function gatewayFilteredBy(filter: Type<ExceptionFilter>) {
  @WebSocketGateway()
  @UseFilters(filter)
  class CompletionGateway {
    @CircuitBreaker('llm')
    @SubscribeMessage('complete')
    async complete(): Promise<string> {
      ran++;
      return 'ok';
    }

    @CircuitBreaker('llm')
    @SubscribeMessage('stream')
    stream(): Observable<string> {
      ran++;
      return of('ok');
    }
  }
  return CompletionGateway;
}

/** An application's own catch-all gateway filter: it records what it sees, then answers as Nest does. */
@Catch()
class AppWsFilter extends BaseWsExceptionFilter {
  static readonly seen: unknown[] = [];
  override catch(exception: unknown, host: ArgumentsHost): void {
    AppWsFilter.seen.push(exception);
    super.catch(exception, host);
  }
}

const openCircuitMessage = {
  event: 'exception',
  data: {
    statusCode: 503,
    error: 'CircuitOpenError',
    code: 'CIRCUIT_OPEN',
    message: expect.stringContaining('circuit "llm" is open'),
    retryAfter: 5,
  },
};

/** Sends one message on a fresh `ws` connection and resolves with the first message back. */
async function ask(url: string, event: string): Promise<unknown> {
  const socket = new WebSocket(url);
  try {
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    const reply = new Promise<unknown>((resolve, reject) => {
      socket.once('message', (data) => resolve(JSON.parse(String(data))));
      socket.once('error', reject);
    });
    socket.send(JSON.stringify({ event, data: {} }));
    return await reply;
  } finally {
    socket.close();
  }
}

describe('library errors from a WebSocket gateway (platform-ws, ws client)', () => {
  let app: INestApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
    AppWsFilter.seen.length = 0;
    ran = 0;
  });

  async function start(filter: Type<ExceptionFilter>, mapErrors = true): Promise<string> {
    const moduleRef = await Test.createTestingModule({
      imports: [OrchestratorModule.forRoot({ policies, mapErrors })],
      providers: [gatewayFilteredBy(filter)],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    app.useWebSocketAdapter(new WsAdapter(app));
    await app.listen(0, '127.0.0.1');
    await app.get(Orchestrator).circuit('llm').open();
    return (await app.getUrl()).replace(/^http:\/\/(\[::1\]|localhost)/, 'http://127.0.0.1');
  }

  it.each(['complete', 'stream'])(
    'the app’s catch-all filter sees a WsException and the client gets the body (%s)',
    async (event) => {
      const url = (await start(AppWsFilter)).replace(/^http/, 'ws');

      expect(await ask(url, event)).toEqual(openCircuitMessage);
      expect(AppWsFilter.seen).toHaveLength(1);
      expect(AppWsFilter.seen[0]).toBeInstanceOf(WsException);
      expect(ran).toBe(0);
    },
  );

  it('with mapErrors: false, OrchestratorExceptionFilter (@UseFilters) sends the same message', async () => {
    const url = (await start(OrchestratorExceptionFilter, false)).replace(/^http/, 'ws');
    expect(await ask(url, 'complete')).toEqual(openCircuitMessage);
  });
});
