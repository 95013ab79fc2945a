import {
  bulkhead,
  circuitBreaker,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleAll,
  retry,
  wrap,
} from 'cockatiel';
import Opossum from 'opossum';
import pLimit from 'p-limit';
import { BackpressureLayer } from '../lib/backpressure/backpressure.layer.js';
import { CircuitBreakerLayer } from '../lib/circuit-breaker/circuit-breaker.layer.js';
import type { Chain, Layer } from '../lib/core/layer.js';
import { DedupeLayer } from '../lib/dedupe/dedupe.layer.js';
import {
  BackpressureGuard,
  CircuitBreakerPolicy,
  Deduplicator,
  RetryPolicy,
  type DedupeOptions,
} from '../lib/index.js';
import { RetryLayer } from '../lib/retry/retry.layer.js';
import { FloorBreaker, FloorSemaphore, FloorSingleFlight, floorRetry } from './floors.js';
import { batchRow, type Row } from './harness.js';
import { byPrompt, CAP, LONG_OPEN, type BenchApp, type BenchService } from './nest-app.js';
import { rateLimitRows, RATE_LIMIT_SCENARIO } from './rate-limit.js';
import { chainOf, op, sequential, viaChain, type Entry } from './rows.js';
import { OBSERVABILITY_SCENARIO } from './observability.js';
import { TIMEOUT_SCENARIOS, timeoutScenarioRows } from './timeout.js';

export { chainOf, viaChain };

const PROMPT_ARGS: unknown[] = ['prompt'];
export const CAP_BATCH = 10_000;

export interface Scenario {
  readonly id: string;
  readonly title: string;
}

export const SCENARIOS: readonly Scenario[] = [
  { id: 'raw', title: 'raw call `async () => 42`' },
  { id: 'closed', title: 'circuit breaker closed, success' },
  { id: 'open', title: 'circuit breaker open, rejection' },
  { id: 'retry', title: 'retry, success on the first try' },
  { id: 'cap', title: `cap 10, ${CAP_BATCH.toLocaleString('en-US')} calls at once` },
  { id: 'stack', title: 'backpressure + breaker + retry (+ dedupe), success' },
  { id: 'dedupe', title: '1,000 identical concurrent calls to a 1 ms operation' },
  RATE_LIMIT_SCENARIO,
  ...TIMEOUT_SCENARIOS,
  OBSERVABILITY_SCENARIO,
];

/** Teardown for peers that hold timers (opossum). */
export const cleanups: Array<() => void> = [];

function opossum<R>(
  action: () => Promise<R>,
  options?: ConstructorParameters<typeof Opossum>[1],
): Opossum<R> {
  const breaker = new Opossum(action, options);
  cleanups.push(() => breaker.shutdown());
  return breaker;
}

function cockatielBreaker(openAfterMs = 30_000) {
  return circuitBreaker(handleAll, {
    halfOpenAfter: openAfterMs,
    breaker: new ConsecutiveBreaker(5),
  });
}

/** cockatiel counts retries, we count attempts: 2 retries match our default of 3 attempts. */
function cockatielRetry() {
  return retry(handleAll, { maxAttempts: 2, backoff: new ExponentialBackoff() });
}

function rawRows(): Row[] {
  return sequential('raw', 'resolve', [['raw', 'raw', op]]);
}

function closedRows({ service, standalone }: BenchApp): Row[] {
  const scenario = 'closed';
  const policy = new CircuitBreakerPolicy('bench.closed');
  const chain = chainOf([new CircuitBreakerLayer(new CircuitBreakerPolicy('bench.closed.chain'))]);
  const cockatiel = cockatielBreaker();
  const opossumDefault = opossum(op);
  const opossumNoTimeout = opossum(op, { timeout: false });
  const floor = new FloorBreaker();
  const rows: Entry[] = [
    ['ours: CircuitBreakerPolicy.call', 'ours', () => policy.call(op)],
    ['ours: Chain of layers', 'ours', viaChain(chain)],
    ['ours: @CircuitBreaker on a Nest provider', 'ours', () => service.closed()],
    ['ours: @CircuitBreaker, standalone (new, no Nest)', 'ours', () => standalone.closed()],
    ['cockatiel circuitBreaker', 'peer', () => cockatiel.execute(op)],
    ['opossum fire (defaults)', 'peer', () => opossumDefault.fire()],
    ['opossum fire (timeout: false)', 'peer', () => opossumNoTimeout.fire()],
    ['hand-written breaker', 'floor', () => floor.call(op)],
  ];
  return sequential(scenario, 'resolve', rows);
}

async function openRows(service: BenchService): Promise<Row[]> {
  const scenario = 'open';
  const policy = new CircuitBreakerPolicy('bench.open.policy', LONG_OPEN);
  await policy.open();
  const chainPolicy = new CircuitBreakerPolicy('bench.open.chain', LONG_OPEN);
  await chainPolicy.open();
  const chain = chainOf([new CircuitBreakerLayer(chainPolicy)]);
  const cockatiel = cockatielBreaker(LONG_OPEN.recoveryWindowMs);
  const failing = async () => Promise.reject(new Error('down'));
  for (let i = 0; i < 5; i++) await cockatiel.execute(failing).catch(() => undefined);
  const opossumOpen = opossum(op, { resetTimeout: LONG_OPEN.recoveryWindowMs });
  opossumOpen.open();
  const floor = new FloorBreaker(5, LONG_OPEN.recoveryWindowMs);
  floor.open();
  const stacklessFloor = new FloorBreaker(5, LONG_OPEN.recoveryWindowMs, true);
  stacklessFloor.open();
  const rows: Entry[] = [
    ['ours: CircuitBreakerPolicy.call', 'ours', () => policy.call(op)],
    ['ours: Chain of layers', 'ours', viaChain(chain)],
    ['ours: @CircuitBreaker on a Nest provider', 'ours', () => service.open()],
    ['cockatiel circuitBreaker', 'peer', () => cockatiel.execute(op)],
    ['opossum fire', 'peer', () => opossumOpen.fire()],
    ['hand-written breaker (new Error)', 'floor', () => floor.call(op)],
    ['hand-written breaker (stackless Error)', 'floor', () => stacklessFloor.call(op)],
  ];
  return sequential(scenario, 'reject', rows);
}

function retryRows({ service, standalone }: BenchApp): Row[] {
  const scenario = 'retry';
  const policy = new RetryPolicy();
  const chain = chainOf([new RetryLayer(new RetryPolicy())]);
  const cockatiel = cockatielRetry();
  const rows: Entry[] = [
    ['ours: RetryPolicy.execute', 'ours', () => policy.execute(op)],
    ['ours: Chain of layers', 'ours', viaChain(chain)],
    ['ours: @Retry on a Nest provider', 'ours', () => service.retried()],
    ['ours: @Retry, standalone (new, no Nest)', 'ours', () => standalone.retried()],
    ['cockatiel retry', 'peer', () => cockatiel.execute(op)],
    ['hand-written retry loop', 'floor', () => floorRetry(op)],
  ];
  return sequential(scenario, 'resolve', rows);
}

function capRows({ service, standalone }: BenchApp): Row[] {
  const scenario = 'cap';
  const size = CAP_BATCH;
  const guard = new BackpressureGuard(CAP);
  const chain = chainOf([new BackpressureLayer(new BackpressureGuard(CAP))]);
  const cockatiel = bulkhead(10, size);
  const limit = pLimit(10);
  const floor = new FloorSemaphore(10);
  // As `acquire`'s own example writes it: await the permit, release it in `finally`.
  const viaGuard = async () => {
    const permit = await guard.acquire();
    try {
      return await op();
    } finally {
      permit.release();
    }
  };
  const rows: Entry[] = [
    ['ours: BackpressureGuard.acquire + release', 'ours', viaGuard],
    ['ours: Chain of layers', 'ours', viaChain(chain)],
    ['ours: @Backpressure on a Nest provider', 'ours', () => service.capped()],
    ['ours: @Backpressure, standalone (new, no Nest)', 'ours', () => standalone.capped()],
    ['cockatiel bulkhead(10, 10000)', 'peer', () => cockatiel.execute(op)],
    ['p-limit(10)', 'peer', () => limit(op)],
    ['hand-written semaphore', 'floor', () => floor.run(op)],
  ];
  return rows.map(([label, kind, call]) => batchRow({ scenario, label, kind, size, call }));
}

/** Our four layers in the order the README recommends: Backpressure > Dedupe > Breaker > Retry. */
export function stackChain(name: string, dedupe?: DedupeOptions): Chain {
  const layers: Layer[] = [new BackpressureLayer(new BackpressureGuard(CAP, undefined, { name }))];
  if (dedupe !== undefined)
    layers.push(new DedupeLayer(new Deduplicator(dedupe, undefined, { name })));
  layers.push(new CircuitBreakerLayer(new CircuitBreakerPolicy(name)));
  layers.push(new RetryLayer(new RetryPolicy()));
  return chainOf(layers);
}

function stackRows({ service, standalone }: BenchApp): Row[] {
  const scenario = 'stack';
  const three = stackChain('bench.stack3');
  const four = stackChain('bench.stack4', { key: byPrompt });
  const cockatiel = wrap(bulkhead(10, 0), cockatielBreaker(), cockatielRetry());
  const semaphore = new FloorSemaphore(10);
  const breaker = new FloorBreaker();
  const semaphore4 = new FloorSemaphore(10);
  const flights = new FloorSingleFlight();
  const breaker4 = new FloorBreaker();
  const guarded = () => breaker4.call(() => floorRetry(op));
  const rows: Entry[] = [
    ['ours: Chain of 3 layers', 'ours', viaChain(three)],
    ['ours: 3 decorators on a Nest provider', 'ours', () => service.stack()],
    ['ours: 3 decorators, standalone (new, no Nest)', 'ours', () => standalone.stack()],
    ['ours: Chain of 4 layers (+ dedupe)', 'ours', viaChain(four, PROMPT_ARGS)],
    ['ours: 4 decorators on a Nest provider', 'ours', () => service.stackWithDedupe('prompt')],
    [
      'ours: 4 decorators, standalone (new, no Nest)',
      'ours',
      () => standalone.stackWithDedupe('prompt'),
    ],
    ['cockatiel wrap(bulkhead, breaker, retry)', 'peer', () => cockatiel.execute(op)],
    [
      'hand-written semaphore + breaker + retry',
      'floor',
      () => semaphore.run(() => breaker.call(() => floorRetry(op))),
    ],
    [
      'hand-written semaphore + single flight + breaker + retry',
      'floor',
      () => semaphore4.run(() => flights.run('prompt', guarded)),
    ],
  ];
  return sequential(scenario, 'resolve', rows);
}

export async function buildRows(app: BenchApp): Promise<Row[]> {
  return [
    ...rawRows(),
    ...closedRows(app),
    ...(await openRows(app.service)),
    ...retryRows(app),
    ...capRows(app),
    ...stackRows(app),
    ...rateLimitRows(app),
    ...timeoutScenarioRows(app),
  ];
}
