import { Cluster, Redis } from 'ioredis';
import type { Connection, WorkerInit } from '../fleet.js';

type Handler = (message: any) => unknown;

let nextReportId = 0;
const acks = new Map<number, (answer: unknown) => void>();

/**
 * The worker side of fleet.ts: answers `{ id, cmd }` requests, reports unhandled rejections to
 * the parent, exits when the parent goes away, and skews Date.now() when asked to.
 */
export function serve(
  init: (options: WorkerInit) => unknown,
  handlers: Record<string, Handler>,
): void {
  process.on('unhandledRejection', (error) => send({ type: 'unhandled', error: String(error) }));
  process.on('uncaughtException', (error) => send({ type: 'unhandled', error: String(error) }));
  process.on('disconnect', () => process.exit(0));
  process.on('message', (message: any) => {
    if (message?.type === 'ack') return acks.get(message.id)?.(message.answer);
    void answer(message, init, handlers);
  });
}

async function answer(
  message: any,
  init: (options: WorkerInit) => unknown,
  handlers: Record<string, Handler>,
) {
  try {
    if (message.cmd === 'init') {
      skewClock(message.init.skewMs ?? 0);
      await init(message.init);
      return send({ type: 'reply', id: message.id, ok: true });
    }
    const handler = handlers[message.cmd];
    if (handler === undefined) throw new Error(`unknown command ${message.cmd}`);
    send({ type: 'reply', id: message.id, ok: true, result: await handler(message) });
  } catch (error) {
    send({
      type: 'reply',
      id: message.id,
      ok: false,
      error: String((error as Error)?.stack ?? error),
    });
  }
}

/** Tells the observer (the test process) something and waits until it has counted it. */
export function report(payload: unknown): Promise<unknown> {
  const id = ++nextReportId;
  return new Promise((resolve) => {
    acks.set(id, (answer) => {
      acks.delete(id);
      resolve(answer);
    });
    send({ type: 'report', id, report: payload });
  });
}

export function emitEvent(event: unknown): void {
  send({ type: 'event', event });
}

function send(message: unknown): void {
  if (process.connected) process.send!(message);
}

function skewClock(skewMs: number): void {
  if (skewMs === 0) return;
  const realNow = Date.now.bind(Date);
  Date.now = () => realNow() + skewMs;
}

/** The worker's own client, with the options the README asks for. */
export function connect(connection: Connection): Redis | Cluster {
  const client =
    connection.mode === 'standalone'
      ? new Redis({
          host: '127.0.0.1',
          port: connection.port,
          commandTimeout: 500,
          enableOfflineQueue: false,
          maxRetriesPerRequest: 1,
          retryStrategy: () => 50,
        })
      : new Cluster(connection.nodes, {
          enableOfflineQueue: false,
          clusterRetryStrategy: () => 50,
          redisOptions: { commandTimeout: 500, maxRetriesPerRequest: 1 },
        });
  client.on('error', () => undefined);
  return client;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
