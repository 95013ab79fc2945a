import { fallback, handleAll, timeout, TimeoutStrategy } from 'cockatiel';
import { Chain, type Call, type Layer, type Step } from '../lib/core/layer.js';
import { FallbackLayer } from '../lib/fallback/fallback.layer.js';
import { TimeoutLayer } from '../lib/timeout/timeout.layer.js';
import { floorTimeout } from './floors.js';
import { sequentialRow, type Row, type RowKind } from './harness.js';

/** Scenarios of issue 12: a timeout and a fallback that never fire, as most calls go. */
export const TIMEOUT_SCENARIOS = [
  { id: 'timeout', title: 'timeout 30 s, success (the limit never fires)' },
  { id: 'fallback', title: 'fallback, success (the handler never runs)' },
] as const;

const op = async (): Promise<number> => 42;
const LIMIT_MS = 30_000;

const NO_ARGS: unknown[] = [];

/** As in scenarios.ts; not imported from there, which imports this module. */
function viaChain(layers: Layer[]): () => Promise<unknown> {
  const chain = new Chain(layers, op, 'promise');
  return () => chain.invoke(undefined, NO_ARGS) as Promise<unknown>;
}

type Entry = [label: string, kind: RowKind, call: () => Promise<unknown>];

function rows(scenario: string, entries: Entry[]): Row[] {
  return entries.map(([label, kind, call]) =>
    sequentialRow({ scenario, label, kind, call, expect: 'resolve' }),
  );
}

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

function timeoutRows(): Row[] {
  const plain = [new TimeoutLayer(LIMIT_MS, { name: 'bench.timeout' })];
  const withSignal = [
    new TimeoutLayer(LIMIT_MS, { name: 'bench.timeout.signal' }),
    new ReadsSignal(),
  ];
  const cockatiel = timeout(LIMIT_MS, TimeoutStrategy.Cooperative);
  return rows('timeout', [
    ['ours: Chain of layers', 'ours', viaChain(plain)],
    ['ours: Chain of layers, the method reads the signal', 'ours', viaChain(withSignal)],
    ['cockatiel timeout (Cooperative)', 'peer', () => cockatiel.execute(op)],
    ['hand-written setTimeout + clearTimeout', 'floor', () => floorTimeout(op, LIMIT_MS)],
  ]);
}

function fallbackRows(): Row[] {
  const chain = [new FallbackLayer(() => 0)];
  const cockatiel = fallback(handleAll, 0);
  return rows('fallback', [
    ['ours: Chain of layers', 'ours', viaChain(chain)],
    ['cockatiel fallback', 'peer', () => cockatiel.execute(op)],
    ['hand-written .catch', 'floor', () => op().catch(() => 0)],
  ]);
}

export function timeoutScenarioRows(): Row[] {
  return [...timeoutRows(), ...fallbackRows()];
}
