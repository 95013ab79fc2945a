import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { faultResponse, takeFault } from './faults.js';
import {
  applyConfig,
  DEFAULT_BEHAVIOUR,
  parseConfigPatch,
  type FakeLlmBehaviour,
  type FakeLlmConfig,
  type FakeLlmOptions,
} from './fake-llm.options.js';
import { cloneStats, emptyStats, type FakeLlmStats } from './fake-llm.stats.js';
import { pause, readBody, sendJson } from './http-utils.js';
import { ProviderRateLimits } from './rate-limits.js';
import {
  chunkBody,
  completionBody,
  errorBody,
  answerText,
  InvalidRequestError,
  parseChatRequest,
  tokenize,
  usageChunkBody,
  usageFor,
  type ChatRequest,
} from './openai-format.js';

export interface FakeLlm {
  /** Base URL including `/v1`, usable as the openai SDK `baseURL`. */
  readonly url: string;
  readonly port: number;
  stats(): FakeLlmStats;
  /** Current behaviour, including what is left of one-shot counters. */
  config(): FakeLlmBehaviour;
  /** Merges a partial behaviour; throws RangeError on invalid values. */
  configure(patch: FakeLlmConfig): FakeLlmBehaviour;
  /** Restores the behaviour given at start and zeroes the stats. */
  reset(): void;
  /** Stops listening and destroys every socket, including hung requests and open streams. */
  close(): Promise<void>;
}

interface Context {
  behaviour: FakeLlmBehaviour;
  stats: FakeLlmStats;
  readonly initial: FakeLlmBehaviour;
  readonly random: () => number;
  readonly closing: AbortController;
  readonly limits: ProviderRateLimits;
  nextId: number;
}

const HOST = '127.0.0.1';

export async function startFakeLlm(options: FakeLlmOptions = {}): Promise<FakeLlm> {
  const initial = applyConfig(DEFAULT_BEHAVIOUR, options);
  const ctx: Context = {
    behaviour: structuredClone(initial),
    stats: emptyStats(),
    initial,
    random: options.random ?? Math.random,
    closing: new AbortController(),
    limits: new ProviderRateLimits(),
    nextId: 1,
  };
  ctx.limits.configure(initial.requestsPerMinute, initial.tokensPerMinute);
  const server = createServer((req, res) => {
    route(req, res, ctx).catch((err: unknown) => failUnexpectedly(res, err));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, HOST, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;

  return {
    url: `http://${HOST}:${port}/v1`,
    port,
    stats: () => cloneStats(ctx.stats),
    config: () => structuredClone(ctx.behaviour),
    configure: (patch) => configure(ctx, patch),
    reset: () => reset(ctx),
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        ctx.closing.abort();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

function configure(ctx: Context, patch: FakeLlmConfig): FakeLlmBehaviour {
  ctx.behaviour = applyConfig(ctx.behaviour, patch);
  ctx.limits.configure(ctx.behaviour.requestsPerMinute, ctx.behaviour.tokensPerMinute);
  return structuredClone(ctx.behaviour);
}

function reset(ctx: Context): void {
  ctx.behaviour = structuredClone(ctx.initial);
  ctx.stats = emptyStats(ctx.stats.inFlight);
  ctx.limits.configure(ctx.initial.requestsPerMinute, ctx.initial.tokensPerMinute);
  ctx.limits.reset();
}

async function route(req: IncomingMessage, res: ServerResponse, ctx: Context): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '');
  switch (`${req.method} ${path}`) {
    case 'POST /v1/chat/completions':
      return handleChat(req, res, ctx);
    case 'GET /admin/stats':
      return sendJson(res, 200, ctx.stats);
    case 'GET /admin/config':
      return sendJson(res, 200, ctx.behaviour);
    case 'POST /admin/config':
      return handleConfig(req, res, ctx);
    case 'POST /admin/reset':
      reset(ctx);
      return sendJson(res, 200, { ok: true });
    default:
      if (path.startsWith('/v1/')) ctx.stats.received++;
      return sendJson(
        res,
        404,
        errorBody(`Unknown route ${req.method} ${path}`, 'invalid_request_error', 'unknown_url'),
      );
  }
}

async function handleConfig(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: Context,
): Promise<void> {
  try {
    const patch = parseConfigPatch(JSON.parse(await readBody(req)));
    sendJson(res, 200, configure(ctx, patch));
  } catch (err) {
    sendJson(res, 400, errorBody((err as Error).message, 'invalid_request_error'));
  }
}

async function handleChat(req: IncomingMessage, res: ServerResponse, ctx: Context): Promise<void> {
  const signal = trackRequest(res, ctx);
  const body = await readBody(req);
  const faulty = faultsApplyTo(ctx.behaviour, body);
  const fault = faulty ? takeFault(ctx.behaviour, ctx.random) : undefined;
  if (fault) ctx.stats.failures[fault]++;
  if (fault === 'hang') return;
  if (!(await pause(ctx.behaviour.latencyMs, signal))) return;
  if (fault) {
    const { status, headers, body: errBody } = faultResponse(fault, ctx.behaviour);
    return sendJson(res, status, errBody, headers);
  }
  const request = parseOrReject(body, res, ctx);
  if (!request) return;
  const answer = answerFor(request, ctx);
  const verdict = ctx.limits.admit(answer.usage.total_tokens);
  if (!verdict.allowed) {
    ctx.stats.rateLimited++;
    const message = 'Rate limit reached for requests or tokens per minute (fake). Please retry.';
    return sendJson(res, 429, errorBody(message, 'requests', 'rate_limit_exceeded'), {
      ...verdict.headers,
    });
  }
  if (request.stream) {
    return streamCompletion(res, request, answer, verdict.headers, ctx, signal, faulty);
  }
  sendCompletion(res, request, answer, verdict.headers, ctx);
}

/** True when the injected faults apply to this request (`faultyModels` empty or naming its model). */
function faultsApplyTo(behaviour: FakeLlmBehaviour, body: string): boolean {
  if (behaviour.faultyModels.length === 0) return true;
  return behaviour.faultyModels.includes(requestedModel(body) ?? '');
}

/** The `model` of a chat request, read leniently (a malformed body is rejected later). */
function requestedModel(body: string): string | undefined {
  try {
    const model: unknown = (JSON.parse(body) as { model?: unknown } | null)?.model;
    return typeof model === 'string' ? model : undefined;
  } catch {
    return undefined;
  }
}

/** Counts the request in flight and returns a signal aborted on client disconnect or close(). */
function trackRequest(res: ServerResponse, ctx: Context): AbortSignal {
  const disconnected = new AbortController();
  const stats = ctx.stats;
  stats.received++;
  stats.inFlight++;
  stats.peakInFlight = Math.max(stats.peakInFlight, stats.inFlight);
  res.once('close', () => {
    // reset() may have swapped the stats object; keep the live one accurate.
    ctx.stats.inFlight--;
    if (res.writableFinished) return;
    if (!ctx.closing.signal.aborted) ctx.stats.clientAborts++;
    disconnected.abort();
  });
  return AbortSignal.any([disconnected.signal, ctx.closing.signal]);
}

function parseOrReject(body: string, res: ServerResponse, ctx: Context): ChatRequest | undefined {
  try {
    return parseChatRequest(body);
  } catch (err) {
    if (!(err instanceof InvalidRequestError)) throw err;
    ctx.stats.badRequests++;
    sendJson(res, 400, errorBody(err.message, 'invalid_request_error'));
    return undefined;
  }
}

type Answer = ReturnType<typeof answerFor>;

function answerFor(request: ChatRequest, ctx: Context) {
  const content = answerText(request.messages);
  const tokens = tokenize(content);
  const id = `chatcmpl-fake-${ctx.nextId++}`;
  return { id, content, tokens, usage: usageFor(request.messages, tokens) };
}

function sendCompletion(
  res: ServerResponse,
  request: ChatRequest,
  { id, content, usage }: Answer,
  headers: Record<string, string>,
  ctx: Context,
): void {
  sendJson(res, 200, completionBody(id, request.model, content, usage), {
    ...headers,
    'x-request-id': id,
  });
  ctx.stats.served++;
}

async function streamCompletion(
  res: ServerResponse,
  request: ChatRequest,
  { id, tokens, usage }: Answer,
  headers: Record<string, string>,
  ctx: Context,
  signal: AbortSignal,
  faulty: boolean,
): Promise<void> {
  const { stallAfterTokens, firstTokenDelayMs, tokenDelayMs } = ctx.behaviour;
  const stallAt = faulty ? stallAfterTokens : undefined;
  ctx.stats.streams.started++;
  res.writeHead(200, {
    ...headers,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-request-id': id,
  });
  res.flushHeaders();
  for (const [i, token] of tokens.entries()) {
    if (i === stallAt) return stall(ctx, signal);
    const wait = i === 0 ? (faulty ? firstTokenDelayMs : 0) : tokenDelayMs;
    if (!(await pause(wait, signal))) {
      ctx.stats.streams.aborted++;
      return;
    }
    const delta = i === 0 ? { role: 'assistant' as const, content: token } : { content: token };
    writeEvent(res, chunkBody(id, request.model, delta));
  }
  if (stallAt !== undefined) return stall(ctx, signal);
  writeEvent(res, chunkBody(id, request.model, {}, 'stop'));
  if (request.includeUsage) writeEvent(res, usageChunkBody(id, request.model, usage));
  res.end('data: [DONE]\n\n');
  ctx.stats.streams.completed++;
  ctx.stats.served++;
}

/** Sends nothing more and keeps the stream open until the client leaves or the server closes. */
async function stall(ctx: Context, signal: AbortSignal): Promise<void> {
  ctx.stats.streams.stalled++;
  if (!signal.aborted) await new Promise((resolve) => signal.addEventListener('abort', resolve));
  ctx.stats.streams.aborted++;
}

function writeEvent(res: ServerResponse, data: unknown): void {
  res.write(`data: ${JSON.stringify(data)}\n\n`);
}

function failUnexpectedly(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, 500, errorBody(`Fake LLM internal error: ${String(err)}`, 'server_error'));
}
