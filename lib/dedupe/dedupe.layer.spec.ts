import 'reflect-metadata';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import type { Clock } from '../core/clock.js';
import type { EventSink, OrchestratorEvent } from '../core/events.js';
import { Chain, type Call } from '../core/layer.js';
import { DedupeLayer } from './dedupe.layer.js';
import { Dedupe } from './dedupe.decorator.js';
import type { DedupeOptions } from './dedupe-options.js';
import { DedupeStore, type DedupeClaim } from './dedupe.store.js';
import { Deduplicator } from './deduplicator.js';
import { InMemoryDedupeStore } from './in-memory-dedupe.store.js';
import { FakeClock } from '../../test/support/fake-clock.js';
import { InvalidOptionsError } from '../core/invalid-options.error.js';

function recorder(): EventSink & { events: OrchestratorEvent[] } {
  const events: OrchestratorEvent[] = [];
  return { active: true, events, emit: (event) => events.push(event) };
}

function gate<T = void>() {
  let open!: (value: T) => void;
  let fail!: (error: unknown) => void;
  const promise = new Promise<T>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { promise, open, fail };
}

/** A chain with only a dedupe layer around `target`. */
function dedupeChain(
  target: (...args: any[]) => unknown,
  options: DedupeOptions = {},
  runtime: { clock?: Clock; events?: EventSink; store?: DedupeStore } = {},
) {
  const deduplicator = new Deduplicator(options, runtime.store, { name: 'test', ...runtime });
  const layer = new DedupeLayer(deduplicator);
  const chain = new Chain([layer], target, 'promise');
  const call = (...args: unknown[]) => chain.invoke(undefined, args) as Promise<unknown>;
  return { deduplicator, layer, chain, call };
}

describe('@Dedupe on promises: single flight', () => {
  it('runs 1,000 concurrent identical calls once and gives all of them its result', async () => {
    let executions = 0;
    const release = gate<string>();
    const { call } = dedupeChain(async (prompt: string) => {
      executions++;
      return `${prompt}:${await release.promise}`;
    });
    const calls = Array.from({ length: 1_000 }, () => call('same prompt'));
    release.open('answer');
    const results = await Promise.all(calls);
    expect(executions).toBe(1);
    expect(new Set(results)).toEqual(new Set(['same prompt:answer']));
    expect(results).toHaveLength(1_000);
  });

  it('runs 1,000 concurrent failing calls once, all get the error, and the next call runs again', async () => {
    let executions = 0;
    const release = gate();
    const boom = new Error('downstream failed');
    const { call } = dedupeChain(
      async () => {
        executions++;
        await release.promise;
        throw boom;
      },
      { ttlMs: 60_000 },
    );
    const calls = Array.from({ length: 1_000 }, () => call('p'));
    release.open();
    const outcomes = await Promise.allSettled(calls);
    expect(executions).toBe(1);
    expect(outcomes.every((o) => o.status === 'rejected' && o.reason === boom)).toBe(true);
    await expect(call('p')).rejects.toBe(boom);
    expect(executions).toBe(2); // failures are never cached, even with a TTL
  });

  it('gives different arguments their own executions', async () => {
    const seen: string[] = [];
    const { call } = dedupeChain(async (p: string) => {
      seen.push(p);
      return p;
    });
    expect(await Promise.all([call('a'), call('b'), call('a')])).toEqual(['a', 'b', 'a']);
    expect(seen).toEqual(['a', 'b']);
  });

  it('with ttlMs 0 shares only in-flight calls: sequential calls each run', async () => {
    let executions = 0;
    const { call } = dedupeChain(async () => ++executions);
    expect(await call('p')).toBe(1);
    expect(await call('p')).toBe(2);
  });

  it('decides synchronously with a synchronous store: the method starts before any await', () => {
    let executions = 0;
    const { call, deduplicator } = dedupeChain(async () => ++executions, { ttlMs: 1_000 });
    void call('p');
    void call('p');
    expect(executions).toBe(1);
    expect(
      deduplicator.answersWithoutExecution(deduplicator.keyOf({ self: 0, args: ['p'] }, undefined)),
    ).toBe(true);
  });

  it('uses the key option to group calls, and hashes each call once', async () => {
    let keyCalls = 0;
    let executions = 0;
    const { call, layer } = dedupeChain(
      async (prompt: string, requestId: number) => `${prompt}#${requestId}:${++executions}`,
      {
        key: (prompt: string) => {
          keyCalls++;
          return prompt.toLowerCase();
        },
      },
    );
    const results = await Promise.all([call('Hello', 1), call('HELLO', 2)]);
    expect(results).toEqual(['Hello#1:1', 'Hello#1:1']);
    expect(keyCalls).toBe(2);
    const probe: Call = { self: undefined, args: ['x', 3] };
    layer.answersWithoutExecution({ answersWithoutExecution: () => false } as never, probe);
    layer.answersWithoutExecution({ answersWithoutExecution: () => false } as never, probe);
    expect(keyCalls).toBe(3);
    expect(probe.dedupeKey).toBe('x');
  });

  it('rejects when the key function does not return a string', async () => {
    const { call } = dedupeChain(async () => 1, { key: () => 42 as never });
    await expect(call('p')).rejects.toThrow('dedupe "test": key should return a string, got 42');
  });

  it('rejects (without running) when an argument is a function and no key is given', async () => {
    let executions = 0;
    const { call } = dedupeChain(async () => ++executions);
    await expect(call(() => 1)).rejects.toThrow(InvalidOptionsError);
    expect(executions).toBe(0);
  });

  it('never hands one caller the result of a call with other Headers: it asks for a key', async () => {
    const seen: string[] = [];
    const { call } = dedupeChain(async (headers: Headers) => {
      seen.push(headers.get('authorization')!);
      return headers.get('authorization');
    });
    const alice = call(new Headers({ authorization: 'alice' }));
    const bob = call(new Headers({ authorization: 'bob' }));
    await expect(alice).rejects.toThrow(InvalidOptionsError);
    await expect(bob).rejects.toThrow(
      /dedupe "test": key is needed: the default key cannot read argument 0 \(an instance of Headers/,
    );
    expect(seen).toEqual([]);
  });
});

describe('@Dedupe on promises: the TTL cache', () => {
  it('serves a completed result until ttlMs passes, then runs again (fake clock)', async () => {
    const clock = new FakeClock();
    let executions = 0;
    const { call } = dedupeChain(async () => ++executions, { ttlMs: 1_000 }, { clock });
    expect(await call('p')).toBe(1);
    clock.advance(999);
    expect(await call('p')).toBe(1);
    clock.advance(1);
    expect(await call('p')).toBe(2);
  });

  it('evicts the least recently used result beyond maxEntries', async () => {
    const clock = new FakeClock();
    let executions = 0;
    const { call, deduplicator } = dedupeChain(
      async (p: string) => `${p}${++executions}`,
      { ttlMs: 60_000, maxEntries: 2 },
      { clock },
    );
    await call('a');
    await call('b');
    await call('a'); // a is now more recent than b
    await call('c'); // evicts b
    expect(await deduplicator.size()).toBe(2);
    expect(await call('a')).toBe('a1');
    expect(await call('b')).toBe('b4');
  });

  it('answersWithoutExecution is true for a running call and a cached result, else false', async () => {
    const release = gate();
    const { call, deduplicator } = dedupeChain(
      async () => {
        await release.promise;
        return 1;
      },
      { ttlMs: 60_000 },
    );
    const keyOf = (p: string) => deduplicator.keyOf({ self: undefined, args: [p] }, undefined);
    expect(deduplicator.answersWithoutExecution(keyOf('p'))).toBe(false);
    const running = call('p');
    expect(deduplicator.answersWithoutExecution(keyOf('p'))).toBe(true);
    release.open();
    await running;
    expect(deduplicator.answersWithoutExecution(keyOf('p'))).toBe(true);
    expect(deduplicator.answersWithoutExecution(keyOf('q'))).toBe(false);
  });

  it('forget makes the next call run again', async () => {
    let executions = 0;
    const { call, deduplicator } = dedupeChain(async () => ++executions, {
      ttlMs: 60_000,
      key: (p: string) => p,
    });
    await call('p');
    await deduplicator.forget('p');
    expect(await call('p')).toBe(2);
  });

  it('forget during a running call: that call answers its callers but is not cached', async () => {
    let executions = 0;
    const release = gate();
    const { call, deduplicator } = dedupeChain(
      async () => {
        const execution = ++executions;
        if (execution === 1) await release.promise;
        return execution;
      },
      { ttlMs: 60_000, key: (p: string) => p },
    );
    const running = call('p');
    await deduplicator.forget('p');
    release.open();

    expect(await running).toBe(1);
    expect(await call('p')).toBe(2);
    expect(await call('p')).toBe(2);
  });

  it('reports hits from the running call and from the cache, and each execution', async () => {
    const events = recorder();
    const release = gate();
    const { call } = dedupeChain(
      async () => {
        await release.promise;
        return 1;
      },
      { ttlMs: 60_000 },
      { events },
    );
    const both = Promise.all([call('p'), call('p')]);
    release.open();
    await both;
    await call('p');
    expect(events.events).toEqual([
      { type: 'dedupe.hit', dedupe: 'test', source: 'in-flight' },
      { type: 'dedupe.executed', dedupe: 'test', outcome: 'success' },
      { type: 'dedupe.hit', dedupe: 'test', source: 'cache' },
    ]);
  });
});

describe('@Dedupe: cancellation and shared stores', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it("does not let the leader's abort fail the followers: the shared signal aborts only when all have", async () => {
    let executions = 0;
    let sharedSignal: AbortSignal | undefined;
    const release = gate<string>();
    const { call } = dedupeChain(async (prompt: string, options: { signal: AbortSignal }) => {
      executions++;
      sharedSignal = options.signal;
      return `${prompt}:${await release.promise}`;
    });
    const leader = new AbortController();
    const follower = new AbortController();
    const first = call('p', { signal: leader.signal });
    const second = call('p', { signal: follower.signal });
    leader.abort(new Error('leader gave up'));
    expect(sharedSignal).not.toBe(leader.signal);
    expect(sharedSignal!.aborted).toBe(false);
    release.open('answer');
    expect(await second).toBe('p:answer');
    expect(await first).toBe('p:answer');
    expect(executions).toBe(1);
  });

  it('aborts the shared execution once every participant has aborted', async () => {
    const { call } = dedupeChain(
      (_p: string, signal: AbortSignal) =>
        new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
    );
    const a = new AbortController();
    const b = new AbortController();
    const first = call('p', a.signal);
    const second = call('p', b.signal);
    a.abort(new Error('a'));
    b.abort(new Error('b'));
    await expect(first).rejects.toThrow('b');
    await expect(second).rejects.toThrow('b');
  });

  it('waits for an owner in another application sharing the store, and takes its result', async () => {
    const store = new InMemoryDedupeStore();
    const release = gate<string>();
    let executions = 0;
    const target = async () => {
      executions++;
      return release.promise;
    };
    const one = dedupeChain(target, {}, { store });
    const two = dedupeChain(target, {}, { store });
    const first = one.call('p');
    const second = two.call('p');
    release.open('shared');
    expect(await Promise.all([first, second])).toEqual(['shared', 'shared']);
    expect(executions).toBe(1);
  });

  it('renews its claim while the execution runs, so a long call keeps the key (fake timers)', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const store = new InMemoryDedupeStore();
    const release = gate();
    const { call, deduplicator } = dedupeChain(
      async () => {
        await release.promise;
        return 'done';
      },
      { leaseMs: 300, key: (p: string) => p },
      { store },
    );
    const running = call('p');
    const observer = new Deduplicator({ leaseMs: 300 }, store, { name: 'test' });
    await jest.advanceTimersByTimeAsync(1_000); // more than three leases
    expect(await observer.checkAndRegister('p')).toEqual({ kind: 'in-progress' });
    release.open();
    expect(await running).toBe('done');
    expect(await deduplicator.size()).toBe(0);
    await jest.advanceTimersByTimeAsync(100);
    expect(jest.getTimerCount()).toBe(0); // the renewal timer stops once no claim is held
  });

  it('runs the call anyway (and reports it) when the store fails to claim', async () => {
    class BrokenStore extends InMemoryDedupeStore {
      override claim(): DedupeClaim {
        throw new Error('store down');
      }
    }
    const events = recorder();
    const { call } = dedupeChain(async () => 'ran', {}, { store: new BrokenStore(), events });
    expect(await call('p')).toBe('ran');
    expect(events.events[0]).toMatchObject({ type: 'store.error', operation: 'claim' });
  });

  it('works with an asynchronous store: identical calls still share one execution', async () => {
    const inner = new InMemoryDedupeStore();
    const asyncStore = new (class extends DedupeStore {
      claim = async (...a: Parameters<DedupeStore['claim']>) => inner.claim(...a);
      complete = async (...a: Parameters<DedupeStore['complete']>) => inner.complete(...a);
      fail = async (...a: Parameters<DedupeStore['fail']>) => inner.fail(...a);
      renew = async (...a: Parameters<DedupeStore['renew']>) => inner.renew(...a);
      forget = async (...a: Parameters<DedupeStore['forget']>) => inner.forget(...a);
      size = async (...a: Parameters<DedupeStore['size']>) => inner.size(...a);
    })();
    let executions = 0;
    const { call } = dedupeChain(
      async () => ++executions,
      { ttlMs: 60_000 },
      { store: asyncStore },
    );
    expect(await Promise.all([call('p'), call('p'), call('p')])).toEqual([1, 1, 1]);
    expect(await call('p')).toBe(1);
    expect(executions).toBe(1);
  });
});

describe('@Dedupe as a decorator', () => {
  class Llm {
    executions = 0;

    @Dedupe({ ttlMs: 60_000, key: (prompt: string) => prompt })
    async complete(prompt: string, _requestId: number): Promise<string> {
      this.executions++;
      return `answer to ${prompt}`;
    }

    @Dedupe()
    async plain(prompt: string): Promise<string> {
      this.executions++;
      return prompt;
    }
  }

  it('dedupes on an instance created with new (private in-memory state)', async () => {
    const llm = new Llm();
    const results = await Promise.all([llm.complete('hi', 1), llm.complete('hi', 2)]);
    expect(results).toEqual(['answer to hi', 'answer to hi']);
    expect(await llm.complete('hi', 3)).toBe('answer to hi');
    expect(llm.executions).toBe(1);
    expect(new Llm().executions).toBe(0);
  });

  it('keeps the method name', () => {
    expect(Llm.prototype.complete.name).toBe('complete');
  });

  it('fails at class definition for bad inline options', () => {
    expect(() => {
      class Bad {
        @Dedupe({ maxEntries: 0 })
        async m(): Promise<void> {}
      }
      return Bad;
    }).toThrow('@Dedupe on Bad.m: dedupe.maxEntries should be an integer >= 1, got 0');
  });

  it('types the key function with the method arguments (checked by tsc)', () => {
    class Typed {
      // @ts-expect-error the key takes a number, the method a string
      @Dedupe({ key: (n: number) => String(n) })
      async m(prompt: string): Promise<string> {
        return prompt;
      }

      @Dedupe({ key: (prompt: string) => prompt })
      async fewer(prompt: string, _model: string): Promise<string> {
        return prompt;
      }
    }
    expect(Typed).toBeDefined();
  });
});
