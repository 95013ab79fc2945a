import { describe, expect, it } from '@jest/globals';
import { BackpressureGuard } from '../backpressure/backpressure.policy.js';
import { BackpressureLayer } from '../backpressure/backpressure.layer.js';
import { CircuitBreakerLayer } from '../circuit-breaker/circuit-breaker.layer.js';
import { CircuitBreakerPolicy } from '../circuit-breaker/circuit-breaker.policy.js';
import { FallbackLayer } from '../fallback/fallback.layer.js';
import { RateLimitLayer } from '../rate-limit/rate-limit.layer.js';
import { RateLimiter } from '../rate-limit/rate-limiter.js';
import { RetryLayer } from '../retry/retry.layer.js';
import { RetryPolicy } from '../retry/retry.policy.js';
import { GuardedIterator, type Opened } from './guarded-iterator.js';
import { Chain, type Layer } from './layer.js';

/** Lets promise callbacks queued so far run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/**
 * An upstream driven by hand: each `next()` waits until the test answers it. Its `return()`
 * ends the pending reads (as `observableToAsyncIterable` does) unless `keepsReads`, and
 * resolves only once `finishReturn()` is called when `slowReturn` (a slow teardown).
 */
class Upstream implements AsyncIterator<unknown> {
  reads = 0;
  returns = 0;
  private readonly pending: Array<{
    resolve(r: IteratorResult<unknown>): void;
    reject(e: unknown): void;
  }> = [];
  private releaseReturn?: () => void;

  constructor(private readonly options: { slowReturn?: boolean; keepsReads?: boolean } = {}) {}

  next(): Promise<IteratorResult<unknown>> {
    this.reads++;
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<unknown>> {
    this.returns++;
    const done = { done: true, value: undefined } as const;
    if (!this.options.keepsReads) for (const read of this.pending.splice(0)) read.resolve(done);
    if (!this.options.slowReturn) return Promise.resolve(done);
    return new Promise((resolve) => (this.releaseReturn = () => resolve(done)));
  }

  item(value: unknown): void {
    this.pending.shift()!.resolve({ done: false, value });
  }

  complete(): void {
    this.pending.shift()!.resolve({ done: true, value: undefined });
  }

  fail(error: unknown): void {
    this.pending.shift()!.reject(error);
  }

  finishReturn(): void {
    this.releaseReturn!();
  }
}

/** Records every hook; what `open()` and `onError()` answer is set per test. */
class Recorder extends GuardedIterator {
  readonly calls: string[] = [];
  opens = 0;

  constructor(
    private readonly upstreams: Upstream[],
    private readonly openWith: (upstream: Upstream) => Opened | Promise<Opened> = (u) => u,
    private readonly decision: (error: unknown) => boolean | Promise<boolean> = () => false,
  ) {
    super();
  }

  /** The settling hooks called so far: exactly one per stream. */
  get endings(): string[] {
    return this.calls.filter((call) => call !== 'item' && call !== 'retry');
  }

  protected override open(): Opened | Promise<Opened> {
    this.opens++;
    return this.openWith(this.upstreams.shift()!);
  }

  protected override onItem(): void {
    this.calls.push('item');
  }

  protected override onDone(): void {
    this.calls.push('done');
  }

  protected override onError(error: unknown): boolean | Promise<boolean> {
    let again: boolean | Promise<boolean>;
    try {
      again = this.decision(error);
    } catch (failure) {
      this.calls.push('error');
      throw failure;
    }
    if (again === true) this.calls.push('retry');
    else if (again === false) this.calls.push('error');
    return again;
  }

  protected override onAbandon(): void {
    this.calls.push('abandon');
  }
}

const DONE = { done: true, value: undefined };

describe('GuardedIterator', () => {
  it('opens nothing until the first next(); a stream left unread is abandoned once', async () => {
    const upstream = new Upstream();
    const stream = new Recorder([upstream]);
    expect(stream.opens).toBe(0);

    await expect(stream.return()).resolves.toEqual(DONE);
    await expect(stream.return()).resolves.toEqual(DONE);
    await expect(stream.next()).resolves.toEqual(DONE);
    expect(stream.opens).toBe(0);
    expect(stream.endings).toEqual(['abandon']);
  });

  it('return() during a pending next() reaches the upstream at once, without waiting for it', async () => {
    const upstream = new Upstream({ slowReturn: true }); // its teardown never finishes by itself
    const stream = new Recorder([upstream]);
    const first = stream.next();
    upstream.item('a');
    await expect(first).resolves.toEqual({ done: false, value: 'a' });
    const pending = stream.next(); // the upstream never answers this read

    const left = stream.return('bye');
    expect(upstream.returns).toBe(1); // synchronously, not after the stalled read
    await expect(left).resolves.toEqual({ done: true, value: 'bye' });
    await expect(pending).resolves.toEqual(DONE);
    expect(stream.endings).toEqual(['abandon']);
  });

  it('return() while idle waits for the upstream to clean up, as a generator would', async () => {
    const upstream = new Upstream({ slowReturn: true });
    const stream = new Recorder([upstream]);
    const first = stream.next();
    upstream.item('a');
    await first;

    let returned = false;
    const left = stream.return().then(() => (returned = true));
    await settle();
    expect(upstream.returns).toBe(1);
    expect(returned).toBe(false);
    upstream.finishReturn();
    await left;
    expect(returned).toBe(true);
  });

  it('an item that arrives after the consumer left is dropped, and so is a late failure', async () => {
    const upstreams = [new Upstream({ keepsReads: true }), new Upstream({ keepsReads: true })];
    const late = new Recorder([upstreams[0]]);
    const read = late.next();
    await late.return();
    upstreams[0].item('late');
    await expect(read).resolves.toEqual(DONE);

    const failing = new Recorder([upstreams[1]], undefined, () => true);
    const failed = failing.next();
    await failing.return();
    upstreams[1].fail(new Error('late'));
    await expect(failed).resolves.toEqual(DONE);
    expect([...late.calls, ...failing.calls]).toEqual(['abandon', 'abandon']);
  });

  it('completes once: onDone, then no abandon and no upstream return on return()', async () => {
    const upstream = new Upstream();
    const stream = new Recorder([upstream]);
    const first = stream.next();
    upstream.item('a');
    await first;
    const last = stream.next();
    upstream.complete();
    await expect(last).resolves.toEqual(DONE);

    await stream.return();
    await expect(stream.next()).resolves.toEqual(DONE);
    expect(upstream.reads).toBe(2);
    expect(upstream.returns).toBe(0);
    expect(stream.calls).toEqual(['item', 'done']);
  });

  it('fails once when onError declines: the error comes out, later calls are done', async () => {
    const upstream = new Upstream();
    const stream = new Recorder([upstream]);
    const read = stream.next();
    upstream.fail(new Error('boom'));
    await expect(read).rejects.toThrow('boom');

    await expect(stream.next()).resolves.toEqual(DONE);
    await stream.return();
    expect(stream.endings).toEqual(['error']);
    expect(upstream.returns).toBe(0);
  });

  it('ends with the error onError throws, once', async () => {
    const upstream = new Upstream();
    const stream = new Recorder([upstream], undefined, () => {
      throw new Error('gave up');
    });
    const read = stream.next();
    upstream.fail(new Error('boom'));
    await expect(read).rejects.toThrow('gave up');
    await stream.return();
    expect(stream.endings).toEqual(['error']); // no abandon after it
  });

  it('opens again when onError says so, and reads the new upstream', async () => {
    const upstreams = [new Upstream(), new Upstream()];
    const [first, second] = upstreams;
    const stream = new Recorder(upstreams, undefined, () => true);
    const read = stream.next();
    first.fail(new Error('flaky'));
    await settle();
    expect(stream.opens).toBe(2);
    second.item('b');
    await expect(read).resolves.toEqual({ done: false, value: 'b' });
    const last = stream.next();
    second.complete();
    await last;
    expect(stream.calls).toEqual(['retry', 'item', 'done']);
  });

  it('a consumer that leaves while onError decides ends the stream as left, once', async () => {
    const upstream = new Upstream();
    let decide!: (again: boolean) => void;
    const stream = new Recorder(
      [upstream],
      undefined,
      () => new Promise<boolean>((resolve) => (decide = resolve)),
    );
    const read = stream.next();
    upstream.fail(new Error('boom'));
    await settle();
    await stream.return();
    decide(false); // too late: the failure is moot
    await expect(read).resolves.toEqual(DONE);
    expect(stream.opens).toBe(1);
    expect(stream.endings).toEqual(['abandon']);
  });

  it('opens once for concurrent reads while an async open is pending', async () => {
    const upstream = new Upstream();
    let admit!: () => void;
    const stream = new Recorder(
      [upstream],
      (u) => new Promise<Opened>((resolve) => (admit = () => resolve(u))),
    );
    const reads = [stream.next(), stream.next()];
    admit();
    await settle();
    expect(stream.opens).toBe(1);
    upstream.item('a');
    await expect(reads[0]).resolves.toEqual({ done: false, value: 'a' });
  });

  it('an upstream opened after the consumer left is returned, never read', async () => {
    const upstream = new Upstream();
    let admit!: () => void;
    const stream = new Recorder(
      [upstream],
      (u) => new Promise<Opened>((resolve) => (admit = () => resolve(u))),
    );
    const read = stream.next();
    await stream.return();
    admit();
    await expect(read).resolves.toEqual(DONE);
    expect(upstream.reads).toBe(0);
    expect(upstream.returns).toBe(1);
    expect(stream.endings).toEqual(['abandon']);
  });

  it('a failing open goes to onError like a failing read', async () => {
    const upstreams = [new Upstream(), new Upstream()];
    const second = upstreams[1];
    let opens = 0;
    const stream = new Recorder(
      upstreams,
      (u) => {
        if (opens++ === 0) throw new Error('refused');
        return u;
      },
      () => true,
    );
    const read = stream.next();
    await settle();
    second.item('b');
    await expect(read).resolves.toEqual({ done: false, value: 'b' });
    expect(stream.calls).toEqual(['retry', 'item']);
  });

  it('throw() leaves the stream like return() and rejects with the error', async () => {
    const upstream = new Upstream();
    const stream = new Recorder([upstream]);
    const read = stream.next();
    await expect(stream.throw(new Error('stop'))).rejects.toThrow('stop');
    await expect(read).resolves.toEqual(DONE);
    expect(upstream.returns).toBe(1);
    expect(stream.endings).toEqual(['abandon']);
  });
});

describe('every guarding layer', () => {
  const layers: Array<[string, () => Layer]> = [
    ['retry', () => new RetryLayer(new RetryPolicy({ maxAttempts: 2 }))],
    ['circuit breaker', () => new CircuitBreakerLayer(new CircuitBreakerPolicy('b', {}))],
    ['backpressure', () => new BackpressureLayer(new BackpressureGuard({ capacity: 1 }))],
    [
      'rate limit',
      () =>
        new RateLimitLayer(new RateLimiter('r', { requests: { limit: 10, intervalMs: 1_000 } })),
    ],
    ['fallback', () => new FallbackLayer(() => [])],
  ];

  it.each(layers)(
    '%s: return() during a pending next() reaches the upstream at once and does not wait for its teardown',
    async (_name, layer) => {
      const upstream = new Upstream({ slowReturn: true });
      const chain = new Chain(
        [layer()],
        () => ({ [Symbol.asyncIterator]: () => upstream }),
        'iterable',
      );
      const stream = (chain.invoke(undefined, []) as AsyncIterable<unknown>)[
        Symbol.asyncIterator
      ]();
      const pending = stream.next();
      await settle();
      expect(upstream.reads).toBe(1);

      let returned = false;
      const left = stream.return!().then(() => (returned = true));
      expect(upstream.returns).toBe(1);
      await settle();
      expect(returned).toBe(true);
      await left;
      await expect(pending).resolves.toEqual(DONE);
    },
  );

  function streamOf(layer: Layer, upstreams: Upstream[]) {
    let opened = 0;
    const chain = new Chain(
      [layer],
      () => ({ [Symbol.asyncIterator]: () => upstreams[opened++] }),
      'iterable',
    );
    const stream = (chain.invoke(undefined, []) as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    return { stream, opened: () => opened };
  }

  it.each(layers)(
    '%s: a stream left opens nothing more on a later next()',
    async (_name, layer) => {
      const upstream = new Upstream();
      const { stream, opened } = streamOf(layer(), [upstream, new Upstream()]);
      const first = stream.next();
      await settle();
      upstream.item('a');
      await first;
      await stream.return!();

      await expect(stream.next()).resolves.toEqual(DONE);
      expect(opened()).toBe(1);
      expect(upstream.reads).toBe(1);
    },
  );

  it.each(layers)(
    '%s: an item that comes after the consumer left is dropped',
    async (_name, layer) => {
      const upstream = new Upstream({ keepsReads: true });
      const { stream } = streamOf(layer(), [upstream]);
      const pending = stream.next();
      await settle();
      await stream.return!();
      upstream.item('late');
      await expect(pending).resolves.toEqual(DONE);
    },
  );
});
