import type { HttpServer } from '@nestjs/common';
import type { OrchestratorErrorBody } from './error-mapping.js';

/** Builds the exception a non-HTTP transport expects for a refusal. */
export type TransportExceptionFactory = (body: OrchestratorErrorBody, cause: unknown) => Error;

/**
 * The transports' packages are optional for users: each is imported the first time one of its
 * handlers fails with a refusal. A handler of that transport runs only when its package is
 * installed, so the import succeeds then; `graphql` comes with any GraphQL driver. The import
 * happens once per transport; the promise is kept.
 */
const loaders: Readonly<Record<string, () => Promise<TransportExceptionFactory>>> = {
  rpc: async () => {
    const { RpcException } = await import('@nestjs/microservices');
    return (body) => new RpcException(body);
  },
  ws: async () => {
    const { WsException } = await import('@nestjs/websockets');
    return (body) => new WsException(body);
  },
  graphql: async () => {
    const { GraphQLError } = await import('graphql');
    return ({ code, statusCode, retryAfter, message }, cause) =>
      new GraphQLError(message, {
        originalError: cause instanceof Error ? cause : undefined,
        extensions:
          retryAfter === undefined ? { code, statusCode } : { code, statusCode, retryAfter },
      });
  },
};
const loaded = new Map<string, Promise<TransportExceptionFactory | undefined>>();

/**
 * The factory of a transport's exception (`'rpc'`, `'ws'`, `'graphql'`). `undefined` for a
 * transport this library does not know (a custom context type) or whose package cannot be
 * imported: the error then goes on unchanged rather than be replaced by an import failure.
 */
export function transportExceptionFactory(
  type: string,
): Promise<TransportExceptionFactory | undefined> {
  let factory = loaded.get(type);
  if (!factory) {
    const load = Object.hasOwn(loaders, type) ? loaders[type] : undefined;
    factory = load ? load().catch(() => undefined) : Promise.resolve(undefined);
    loaded.set(type, factory);
  }
  return factory;
}

/** The response methods this file uses, on Express, Fastify and plain `node:http`. */
interface HttpResponseLike {
  setHeader?(name: string, value: string): unknown;
  header?(name: string, value: string): unknown;
  status?(code: number): { send(body: unknown): unknown };
  statusCode?: number;
  end?(body?: string): unknown;
  /** A Fastify reply's `node:http` response. */
  raw?: { end?(): unknown };
  /** Express and `node:http`. */
  headersSent?: boolean;
  /** Fastify. */
  sent?: boolean;
}

/**
 * Sets `Retry-After` on an HTTP response: through the application's adapter when there is one
 * (any platform), else on the response itself: Express and `node:http` have `setHeader`,
 * a Fastify reply has `header`. Nothing is set once the headers are sent.
 */
export function setRetryAfter(
  response: unknown,
  seconds: number,
  adapter: HttpServer | undefined,
): void {
  const value = String(seconds);
  const res = response as HttpResponseLike;
  // A stream that fails after its first chunk has sent its headers; the header cannot follow.
  if (headersSent(response, adapter)) return;
  if (adapter) {
    adapter.setHeader(response, 'Retry-After', value);
    return;
  }
  if (typeof res.setHeader === 'function') res.setHeader('Retry-After', value);
  else if (typeof res.header === 'function') res.header('Retry-After', value);
}

/**
 * Sends a JSON answer: through the adapter when there is one, else with `status().send()` (Express
 * and Fastify alike serialise an object as JSON), else on a plain `node:http` response.
 */
export function replyJson(
  response: unknown,
  body: object,
  status: number,
  adapter: HttpServer | undefined,
): void {
  const res = response as HttpResponseLike;
  if (headersSent(response, adapter)) {
    // Too late for a status: end the response as Nest's own filter does.
    if (adapter) adapter.end(response);
    else (res.raw ?? res).end?.();
    return;
  }
  if (adapter) {
    adapter.reply(response, body, status);
    return;
  }
  if (typeof res.status === 'function') {
    res.status(status).send(body);
    return;
  }
  res.statusCode = status;
  res.setHeader?.('Content-Type', 'application/json; charset=utf-8');
  res.end?.(JSON.stringify(body));
}

function headersSent(response: unknown, adapter: HttpServer | undefined): boolean {
  if (adapter) return adapter.isHeadersSent(response);
  const res = response as HttpResponseLike;
  return res.headersSent === true || res.sent === true;
}
