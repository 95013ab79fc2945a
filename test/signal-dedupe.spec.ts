import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { Dedupe, Signal } from '../lib/index.js';

describe('@Signal() with @Dedupe', () => {
  it('aborts a deduped execution only when every waiting caller has aborted', async () => {
    let release!: () => void;
    const seen: AbortSignal[] = [];
    class Shared {
      @Dedupe({ key: (prompt: string) => prompt })
      async call(prompt: string, @Signal() signal?: AbortSignal): Promise<string> {
        seen.push(signal!);
        await new Promise<void>((resolve) => (release = resolve));
        return prompt;
      }
    }
    const shared = new Shared();
    const first = new AbortController();
    const second = new AbortController();
    const a = shared.call('p', first.signal);
    const b = shared.call('p', second.signal);
    await Promise.resolve();
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toHaveLength(1);
    first.abort(new Error('first left'));
    await expect(a).rejects.toThrow('first left');
    expect(seen[0].aborted).toBe(false);
    second.abort(new Error('second left'));
    await expect(b).rejects.toThrow('second left');
    expect(seen[0].aborted).toBe(true);
    release();
  });
});
