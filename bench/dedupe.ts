import Opossum from 'opossum';
import { DedupeLayer } from '../lib/dedupe/dedupe.layer.js';
import { Deduplicator, type DedupeOptions } from '../lib/index.js';
import { FloorSingleFlight } from './floors.js';
import { gc, heapGc, type Row } from './harness.js';
import { byPrompt, type BenchService } from './nest-app.js';
import { chainOf, cleanups, viaChain } from './scenarios.js';

export const IDENTICAL_CALLS = 1_000;
const BATCHES_PER_SAMPLE = 4;
export const HEAP_KEYS = 100_000;
const hrtime = process.hrtime.bigint;
const PROMPT_ARGS: unknown[] = ['prompt'];
/** Same as our `ttlMs: 0`: opossum drops a coalesced call once it settles, instead of caching it. */
const COALESCE_IN_FLIGHT: ConstructorParameters<typeof Opossum>[1] = {
  coalesce: true,
  coalesceResetOn: ['success', 'error', 'timeout'],
};

/** The 1 ms operation: counts its executions and notes when its result is ready. */
class SlowOperation {
  executions = 0;
  readyAt = 0n;

  readonly run = (): Promise<number> => {
    this.executions++;
    return new Promise((resolve) =>
      setTimeout(() => {
        this.readyAt = hrtime();
        resolve(42);
      }, 1),
    );
  };
}

/**
 * Times what the library adds, not the 1 ms wait: starting the 1,000 calls, plus handing the
 * one result to all of them (from the moment the operation's result is ready until every
 * caller has it). Timer jitter is far larger than the costs measured, so it is left out.
 */
function identicalCallsRow(
  label: string,
  kind: Row['kind'],
  operation: SlowOperation,
  call: () => Promise<unknown>,
): Row {
  const promises: Promise<unknown>[] = new Array(IDENTICAL_CALLS);
  const executions: number[] = [];
  const batch = async () => {
    const before = operation.executions;
    const start = hrtime();
    for (let i = 0; i < IDENTICAL_CALLS; i++) promises[i] = call();
    const issued = hrtime();
    await Promise.all(promises);
    const done = hrtime();
    executions.push(operation.executions - before);
    return Number(issued - start) + Number(done - operation.readyAt);
  };
  return {
    scenario: 'dedupe',
    label,
    kind,
    calibrate: async () => void executions.splice(0),
    async sample() {
      let ns = 0;
      for (let b = 0; b < BATCHES_PER_SAMPLE; b++) ns += await batch();
      return ns / (BATCHES_PER_SAMPLE * IDENTICAL_CALLS);
    },
    note: () => executionsNote(executions),
  };
}

/** `1 execution per 1,000 calls` only when every batch ran the operation exactly once. */
export function executionsNote(perBatch: readonly number[]): string {
  const low = Math.min(...perBatch);
  const high = Math.max(...perBatch);
  const batches = perBatch.length;
  if (low === 1 && high === 1) return `1 execution per 1,000 calls (all ${batches} batches)`;
  return `${low}-${high} executions per 1,000 calls over ${batches} batches`;
}

function dedupeChain(options: DedupeOptions, target: Function) {
  return chainOf([new DedupeLayer(new Deduplicator(options))], target);
}

export function dedupeRows(service: BenchService): Row[] {
  const withKey = new SlowOperation();
  const keyChain = dedupeChain({ key: byPrompt }, withKey.run);
  const hashed = new SlowOperation();
  const hashChain = dedupeChain({}, hashed.run);
  const nest = new SlowOperation();
  service.slowOperation = nest.run;
  const coalesced = new SlowOperation();
  const opossum = new Opossum(coalesced.run, COALESCE_IN_FLIGHT);
  cleanups.push(() => opossum.shutdown());
  const floored = new SlowOperation();
  const floor = new FloorSingleFlight();
  return [
    identicalCallsRow(
      'ours: Chain, key function',
      'ours',
      withKey,
      viaChain(keyChain, PROMPT_ARGS),
    ),
    identicalCallsRow(
      'ours: Chain, default key (SHA-256)',
      'ours',
      hashed,
      viaChain(hashChain, PROMPT_ARGS),
    ),
    identicalCallsRow('ours: @Dedupe on a Nest provider', 'ours', nest, () =>
      service.slow('prompt'),
    ),
    identicalCallsRow('opossum fire (coalesce)', 'peer', coalesced, () => opossum.fire('prompt')),
    identicalCallsRow('hand-written single-flight Map', 'floor', floored, () =>
      floor.run('prompt', floored.run),
    ),
  ];
}

export interface HeapResult {
  readonly label: string;
  /** Live heap while every call is in flight, over the heap before, in bytes. */
  readonly inFlight: number;
  /** Live heap once every call settled, over the heap before, in bytes. */
  readonly after: number;
}

type Issue = (key: string, operation: () => Promise<number>) => Promise<unknown>;

/** 100,000 calls with distinct keys, all held open on one gate, then released. */
async function heapOf(label: string, issue: Issue, keys: readonly string[]): Promise<HeapResult> {
  let open!: (value: number) => void;
  const gate = new Promise<number>((resolve) => (open = resolve));
  const operation = () => gate;
  const promises: unknown[] = new Array(keys.length).fill(0);
  const base = liveHeap();
  for (let i = 0; i < keys.length; i++) promises[i] = issue(keys[i], operation);
  const inFlight = liveHeap() - base;
  open(42);
  await Promise.all(promises);
  promises.fill(0);
  return { label, inFlight, after: liveHeap() - base };
}

/** Live heap after the most thorough collection V8 offers (see `heapGc`). */
function liveHeap(): number {
  gc();
  heapGc();
  return process.memoryUsage().heapUsed;
}

/** Each candidate runs on fresh state; a short run first compiles its code outside the count. */
export async function measureHeap(): Promise<HeapResult[]> {
  const keys = Array.from({ length: HEAP_KEYS }, (_, i) => `prompt-${i}`);
  const candidates: Array<[string, () => Issue]> = [
    ['ours: Chain, dedupe layer (ttlMs 0)', () => issueViaChain({ key: byPrompt })],
    [
      'ours: Chain, dedupe layer (ttlMs 60 s)',
      () => issueViaChain({ key: byPrompt, ttlMs: 60_000 }),
    ],
    ['opossum fire (coalesce)', issueViaOpossum],
    ['hand-written single-flight Map', issueViaFloor],
  ];
  const results: HeapResult[] = [];
  for (const [label, create] of candidates) {
    await heapOf(label, create(), keys.slice(0, 1_000));
    results.push(await heapOf(label, create(), keys));
  }
  return results;
}

function issueViaChain(options: DedupeOptions): Issue {
  const deduplicator = new Deduplicator(options);
  let target: () => Promise<number> = async () => 42;
  const chain = chainOf([new DedupeLayer(deduplicator)], () => target());
  return (key, operation) => {
    target = operation;
    return chain.invoke(undefined, [key]) as Promise<unknown>;
  };
}

function issueViaOpossum(): Issue {
  let target: () => Promise<number> = async () => 42;
  const breaker = new Opossum((_key: string) => target(), COALESCE_IN_FLIGHT);
  cleanups.push(() => breaker.shutdown());
  return (key, operation) => {
    target = operation;
    return breaker.fire(key);
  };
}

function issueViaFloor(): Issue {
  const floor = new FloorSingleFlight();
  return (key, operation) => floor.run(key, operation);
}
