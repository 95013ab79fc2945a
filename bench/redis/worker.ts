/**
 * One bench process (forked by workers.ts, compiled JS, no loader): builds the Nest application
 * on the shared Redis and runs guarded calls when asked. Exits when the parent goes away.
 */
import { createRedisBenchApp, expected, PATHS, type RedisBenchApp } from './app.js';
import type { PathId } from './paths.js';
import type { LoadRequest, LoadResult, Request, SequentialResult } from './protocol.js';

const WARMUP_CALLS = 300;

let app: RedisBenchApp | undefined;
let worker = 0;

process.on('disconnect', () => process.exit(0));
process.on('message', (message: Request) => void answer(message));

async function answer(message: Request): Promise<void> {
  try {
    const result = await handle(message);
    process.send?.({ id: message.id, ok: true, result });
  } catch (error) {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.send?.({ id: message.id, ok: false, error: text });
  }
}

function handle(message: Request): Promise<unknown> {
  switch (message.cmd) {
    case 'init':
      return init(message.port, message.worker, message.callers);
    case 'sequential':
      return sequential(message.path, message.calls);
    case 'load':
      return load(message);
    case 'close':
      return close();
  }
}

/** Builds the app, primes the cached dedupe keys and warms every path up. */
async function init(port: number, index: number, callers: number): Promise<void> {
  worker = index;
  app = await createRedisBenchApp(port);
  const hit = app.call('hit', worker);
  for (let caller = 0; caller < callers; caller++) await hit(caller, 0);
  for (const spec of PATHS) {
    const result = await sequential(spec.id, WARMUP_CALLS);
    if (result.wrong > 0) {
      throw new Error(
        `${spec.id}: ${result.wrong} unexpected outcomes, first: ${result.firstWrong}`,
      );
    }
  }
}

function current(): RedisBenchApp {
  if (app === undefined) throw new Error('not initialised');
  return app;
}

/** `calls` calls one after another, each awaited: the latency path, and the round-trip count. */
async function sequential(path: PathId, calls: number): Promise<SequentialResult> {
  const spec = PATHS.find((p) => p.id === path)!;
  const call = current().call(path, worker);
  let wrong = 0;
  let firstWrong: string | undefined;
  const start = process.hrtime.bigint();
  for (let seq = 0; seq < calls; seq++) {
    let outcome: { value?: unknown; error?: unknown };
    try {
      outcome = { value: await call(0, seq) };
    } catch (error) {
      outcome = { error };
    }
    if (!expected(spec, outcome)) {
      wrong++;
      firstWrong ??= describe(outcome);
    }
  }
  const ns = Number(process.hrtime.bigint() - start);
  return { nsPerCall: ns / calls, wrong, firstWrong, incidents: current().incidents() };
}

/**
 * `callers` concurrent loops of awaited calls, from `startAt` (wall clock, shared by the
 * processes) for `warmMs + durationMs`; only calls that end inside the last `durationMs` count.
 */
async function load(request: LoadRequest): Promise<LoadResult> {
  const spec = PATHS.find((p) => p.id === request.path)!;
  const call = current().call(request.path, worker);
  const incidentsBefore = current().incidents();
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, request.startAt - Date.now())));
  const cpuBefore = process.cpuUsage();
  const begin = performance.now() + request.warmMs;
  const end = begin + request.durationMs;
  let counted = 0;
  let total = 0;
  let wrong = 0;
  let firstWrong: string | undefined;
  const unexpected = (outcome: { value?: unknown; error?: unknown }) => {
    wrong++;
    firstWrong ??= describe(outcome);
  };
  const loop = async (caller: number) => {
    for (let seq = 0; performance.now() < end; seq++) {
      try {
        const value = await call(caller, seq);
        if (!expected(spec, { value })) unexpected({ value });
      } catch (error) {
        if (!expected(spec, { error })) unexpected({ error });
      }
      total++;
      const now = performance.now();
      if (now >= begin && now < end) counted++;
    }
  };
  await Promise.all(Array.from({ length: request.callers }, (_, caller) => loop(caller)));
  const cpu = process.cpuUsage(cpuBefore);
  const incidents = current().incidents() - incidentsBefore;
  return { counted, total, wrong, firstWrong, incidents, cpuMicros: cpu.user + cpu.system };
}

async function close(): Promise<void> {
  await app?.close();
  app = undefined;
  setImmediate(() => process.exit(0));
}

function describe(outcome: { value?: unknown; error?: unknown }): string {
  if (!('error' in outcome)) return `resolved with ${String(outcome.value)}`;
  const { error } = outcome;
  return `rejected with ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
}
