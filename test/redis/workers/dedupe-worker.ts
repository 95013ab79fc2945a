import { randomUUID } from 'node:crypto';
import { Chain } from '../../../lib/core/layer.js';
import { DedupeLayer } from '../../../lib/dedupe/dedupe.layer.js';
import { Deduplicator } from '../../../lib/dedupe/deduplicator.js';
import { RedisDedupeStore } from '../../../lib/redis/index.js';
import type { WorkerInit } from '../fleet.js';
import { connect, emitEvent, report, serve, sleep } from './worker-runtime.js';

let store: RedisDedupeStore;
const chains = new Map<string, Chain>();
/** Executions started with `own`, finished by the `finish` command. */
const finishers = new Map<
  string,
  { resolve(value: unknown): void; reject(error: unknown): void }
>();
let messages = 0;

/** The work every caller shares: it reports to the observer, which counts executions. */
async function execute(key: string, workMs: number, mode: 'run' | 'own'): Promise<unknown> {
  await report({ type: 'exec', key, pid: process.pid });
  if (mode === 'own')
    return new Promise((resolve, reject) => finishers.set(key, { resolve, reject }));
  await sleep(workMs);
  return { executedBy: process.pid, id: randomUUID() };
}

function chainFor(
  name: string,
  leaseMs: number,
  ttlMs: number,
  workMs: number,
  mode: 'run' | 'own',
): Chain {
  const id = `${name}|${mode}`;
  let chain = chains.get(id);
  if (chain === undefined) {
    const deduplicator = new Deduplicator({ leaseMs, ttlMs, key: (key: string) => key }, store, {
      name,
    });
    chain = new Chain(
      [new DedupeLayer(deduplicator)],
      (key: string) => execute(key, workMs, mode),
      'promise',
    );
    chains.set(id, chain);
  }
  return chain;
}

serve(
  (init) => {
    store = new RedisDedupeStore(connect(init.connection), {
      keyPrefix: (init as WorkerInit).keyPrefix,
      heartbeatMs: init.heartbeatMs as number | undefined,
      checkClient: false,
      logger: { warn: () => undefined },
      // To the parent as plain data (an error becomes its message): tells a fallback to the
      // process (Redis failed this worker) from a takeover.
      onEvent: ({ type, ...rest }) =>
        emitEvent({ type, error: 'error' in rest ? String(rest.error) : undefined }),
    });
    // Counts pub/sub deliveries, to tell the message path from the poll path.
    const listen = store.backend.listen.bind(store.backend);
    store.backend.listen = (channel, handler) =>
      listen(channel, (message) => (messages++, handler(message)));
  },
  {
    /** `callers` concurrent calls with one key; answers every value and how long each took. */
    async herd({ name, key, callers, workMs = 100, leaseMs = 2000, ttlMs = 0 }) {
      const chain = chainFor(name, leaseMs, ttlMs, workMs, 'run');
      return Promise.all(
        Array.from({ length: callers }, async () => {
          const started = performance.now();
          const outcome = await chain.run(undefined, [key]).then(
            (value) => ({ value }),
            (error: Error & { code?: string }) => ({
              error: { message: error.message, code: error.code },
            }),
          );
          return { ...outcome, ms: performance.now() - started };
        }),
      );
    },
    /** Starts an execution that runs until `finish`; answers once it has started. */
    async own({ name, key, leaseMs = 2000 }) {
      const chain = chainFor(name, leaseMs, 0, 0, 'own');
      chain.run(undefined, [key]).catch(() => undefined);
      while (!finishers.has(key)) await sleep(5);
      return process.pid;
    },
    finish({ key, value }) {
      finishers.get(key)?.resolve(value);
      finishers.delete(key);
    },
    fail({ key, message }) {
      finishers.get(key)?.reject(Object.assign(new Error(message), { code: 'E_PROVIDER' }));
      finishers.delete(key);
    },
    messages: () => messages,
    /** Whether the worker's client is connected (after a Redis restart, it reconnects). */
    connected: () => store.backend.client.status === 'ready',
  },
);
