import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { Observable, lastValueFrom, toArray } from 'rxjs';
import { InvalidOptionsError, Retry, Signal } from '../lib/index.js';

class Upstream {
  seen: Array<AbortSignal | undefined> = [];

  @Retry({ maxAttempts: 1 })
  async call(prompt: string, @Signal() signal?: AbortSignal): Promise<string> {
    this.seen.push(signal);
    return prompt;
  }

  @Retry({ maxAttempts: 1 })
  async *tokens(@Signal() signal?: AbortSignal): AsyncIterable<boolean> {
    yield signal instanceof AbortSignal;
  }

  @Retry({ maxAttempts: 1 })
  feed(@Signal() signal?: AbortSignal): Observable<boolean> {
    return new Observable((subscriber) => {
      subscriber.next(signal instanceof AbortSignal);
      subscriber.complete();
    });
  }
}

describe('@Signal()', () => {
  it('gives the method a signal even when the caller passed none', async () => {
    const upstream = new Upstream();
    await upstream.call('a');
    expect(upstream.seen[0]).toBeInstanceOf(AbortSignal);
    expect(upstream.seen[0]!.aborted).toBe(false);
  });

  it("passes the caller's own signal on: aborting it aborts what the method holds", async () => {
    const upstream = new Upstream();
    const controller = new AbortController();
    await upstream.call('a', controller.signal);
    controller.abort(new Error('caller left'));
    expect(upstream.seen[0]!.aborted).toBe(true);
  });

  it('treats a value that is not an AbortSignal (a transport payload) as no signal', async () => {
    const upstream = new Upstream();
    await upstream.call('a', { some: 'payload' } as never);
    expect(upstream.seen[0]).toBeInstanceOf(AbortSignal);
  });

  it('reaches stream methods of both kinds', async () => {
    const upstream = new Upstream();
    const items: boolean[] = [];
    for await (const item of upstream.tokens()) items.push(item);
    expect(items).toEqual([true]);
    expect(await lastValueFrom(upstream.feed().pipe(toArray()))).toEqual([true]);
  });

  it('refuses two @Signal() parameters on one method when the class is defined', () => {
    const define = () => {
      class Twice {
        @Retry()
        async call(@Signal() a?: AbortSignal, @Signal() b?: AbortSignal): Promise<void> {
          void a;
          void b;
        }
      }
      return Twice;
    };
    expect(define).toThrow(InvalidOptionsError);
    expect(define).toThrow('@Signal() on Twice.call marks parameters 0 and 1');
  });
});
