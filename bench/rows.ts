import { Chain, type Layer } from '../lib/core/layer.js';
import { sequentialRow, type Row, type RowKind } from './harness.js';

/** The protected operation of every scenario but the dedupe one. */
export const op = async (): Promise<number> => 42;
export const NO_ARGS: unknown[] = [];

/** Builds a Chain from layers, as the decorators compile one, minus the Nest binding. */
export function chainOf(layers: Layer[], target: Function = op): Chain {
  return new Chain(layers, target, 'promise');
}

/** Calls a chain the way the decorator's wrapper does: `invoke(this, args)`. */
export function viaChain(chain: Chain, args: unknown[] = NO_ARGS): () => Promise<unknown> {
  return () => chain.invoke(undefined, args) as Promise<unknown>;
}

/** A row's label, who it measures, and one protected call. */
export type Entry = [label: string, kind: RowKind, call: () => Promise<unknown>];

/** Rows timing calls one after another, each awaited. */
export function sequential(
  scenario: string,
  expect: 'resolve' | 'reject',
  entries: Entry[],
): Row[] {
  return entries.map(([label, kind, call]) =>
    sequentialRow({ scenario, label, kind, call, expect }),
  );
}
