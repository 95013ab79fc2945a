/**
 * Type flow, checked by `npm run typecheck` (tsc includes the spec files): each stage's input is
 * the previous stage's output. Every `@ts-expect-error` below fails the typecheck if the line it
 * marks ever compiles, so a builder that loses its types breaks the build, not just this test.
 */
import { describe, expect, it } from '@jest/globals';
import { Pipeline } from './pipeline.js';
import type { TimedPipelineResult } from './pipeline.types.js';

/** Compiles only when `A` and `B` are the same type. */
type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const assertType = <T extends true>(ok: T): T => ok;

const counting = new Pipeline<string>('types')
  .addStage('length', (text) => text.length)
  .addStage('double', async (n) => n * 2)
  .addStage('label', (n) => ({ label: `n=${n}` }));

/** Never called: its body only has to type-check (or fail to, where marked). */
function _mismatches(): void {
  // A stage after `length` receives a number: string methods do not exist on it.
  new Pipeline<string>('types')
    .addStage('length', (text) => text.length)
    // @ts-expect-error Property 'toUpperCase' does not exist on type 'number'
    .addStage('shout', (text) => text.toUpperCase());

  // An explicitly annotated parameter must match the previous output too.
  new Pipeline<string>('types')
    .addStage('length', (text) => text.length)
    // @ts-expect-error a (text: string) stage cannot follow a stage that outputs a number
    .addStage('shout', (text: string) => text.toUpperCase());

  // @ts-expect-error the pipeline's input is a string
  void counting.run(42);
}

// An async stage's output is the awaited value, not a Promise.
assertType<Equal<typeof counting, Pipeline<string, { label: string }>>>(true);
assertType<Equal<ReturnType<typeof counting.run>, Promise<{ label: string }>>>(true);
assertType<
  Equal<ReturnType<typeof counting.executeTimed>, Promise<TimedPipelineResult<{ label: string }>>>
>(true);

// A streaming last stage hands back its AsyncIterable type unchanged.
const streaming = new Pipeline<string>('types').addStage('tokens', async function* (text) {
  yield* text.split(' ');
});
assertType<Equal<Awaited<ReturnType<typeof streaming.run>>, AsyncGenerator<string, void, unknown>>>(
  true,
);

// The error handler keeps the output type.
assertType<
  Equal<ReturnType<typeof counting.withErrorHandler>, Pipeline<string, { label: string }>>
>(true);

describe('Pipeline type flow', () => {
  it('runs the typed stages with the values the types describe', async () => {
    await expect(counting.run('abcd')).resolves.toEqual({ label: 'n=8' });
  });

  it('hands back the streaming stage output that its type promises', async () => {
    const tokens: string[] = [];
    for await (const token of await streaming.run('a b')) tokens.push(token);
    expect(tokens).toEqual(['a', 'b']);
  });
});
