import { fallback, handleAll, timeout, TimeoutStrategy } from 'cockatiel';
import type { Call, Layer, Step } from '../lib/core/layer.js';
import { FallbackLayer } from '../lib/fallback/fallback.layer.js';
import { TimeoutLayer } from '../lib/timeout/timeout.layer.js';
import { floorTimeout } from './floors.js';
import type { Row } from './harness.js';
import { fallbackValue, LIMIT_MS, type BenchApp } from './nest-app.js';
import { chainOf, op, sequential, viaChain } from './rows.js';

/** Scenarios of issue 12: a timeout and a fallback that never fire, as most calls go. */
export const TIMEOUT_SCENARIOS = [
  { id: 'timeout', title: 'timeout 30 s, success (the limit never fires)' },
  { id: 'fallback', title: 'fallback, success (the handler never runs)' },
] as const;

/** Reads the attempt's signal, as a method with `@Signal()` gets it: the controller is made. */
class ReadsSignal implements Layer {
  promise(next: Step, call: Call): Promise<unknown> {
    if (call.signal === undefined) throw new Error('no attempt signal');
    return next.promise(call);
  }
  stream(next: Step, call: Call): AsyncIterable<unknown> {
    return next.stream(call);
  }
}

function timeoutRows({ service, standalone }: BenchApp): Row[] {
  const plain = [new TimeoutLayer(LIMIT_MS, { name: 'bench.timeout' })];
  const withSignal = [
    new TimeoutLayer(LIMIT_MS, { name: 'bench.timeout.signal' }),
    new ReadsSignal(),
  ];
  const cockatiel = timeout(LIMIT_MS, TimeoutStrategy.Cooperative);
  return sequential('timeout', 'resolve', [
    ['ours: Chain of layers', 'ours', viaChain(chainOf(plain))],
    ['ours: @Timeout on a Nest provider', 'ours', () => service.timed()],
    ['ours: @Timeout, standalone (new, no Nest)', 'ours', () => standalone.timed()],
    ['ours: Chain of layers, the method reads the signal', 'ours', viaChain(chainOf(withSignal))],
    ['cockatiel timeout (Cooperative)', 'peer', () => cockatiel.execute(op)],
    ['hand-written setTimeout + clearTimeout', 'floor', () => floorTimeout(op, LIMIT_MS)],
  ]);
}

function fallbackRows({ service, standalone }: BenchApp): Row[] {
  const chain = chainOf([new FallbackLayer(fallbackValue)]);
  const cockatiel = fallback(handleAll, 0);
  return sequential('fallback', 'resolve', [
    ['ours: Chain of layers', 'ours', viaChain(chain)],
    ['ours: @Fallback on a Nest provider', 'ours', () => service.withFallback()],
    ['ours: @Fallback, standalone (new, no Nest)', 'ours', () => standalone.withFallback()],
    ['cockatiel fallback', 'peer', () => cockatiel.execute(op)],
    ['hand-written .catch', 'floor', () => op().catch(() => 0)],
  ]);
}

export function timeoutScenarioRows(app: BenchApp): Row[] {
  return [...timeoutRows(app), ...fallbackRows(app)];
}
