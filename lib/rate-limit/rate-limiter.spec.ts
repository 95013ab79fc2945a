import { describe, expect, it } from '@jest/globals';
import { FakeClock, flushMicrotasks } from '../../test/support/fake-clock.js';
import type { OrchestratorEvent } from '../core/events.js';
import { InvalidOptionsError } from '../core/invalid-options.error.js';
import { Chain } from '../core/layer.js';
import { parseResetDuration } from '../core/retry-after.js';
import { InMemoryRateLimitStore } from './in-memory-rate-limit.store.js';
import { RateLimitLayer } from './rate-limit.layer.js';
import { RateLimiter } from './rate-limiter.js';
import type { RateLimitOptions } from './rate-limit-options.js';
import { isRateLimitedError, RateLimitedError } from './rate-limited.error.js';

function limiterWith(options: RateLimitOptions, clock = new FakeClock()) {
  const events: OrchestratorEvent[] = [];
  const sink = { active: true, emit: (event: OrchestratorEvent) => events.push(event) };
  const store = new InMemoryRateLimitStore(clock);
  const limiter = new RateLimiter('llm', options, store, { clock, events: sink });
  return { limiter, clock, events, store };
}

const perSecond = (limit: number) => ({ limit, intervalMs: 1000 });

describe('RateLimiter: requests', () => {
  it('lets `limit` calls through at once, refuses the next with when a request frees', () => {
    const { limiter } = limiterWith({ requests: perSecond(4) });
    for (let i = 0; i < 4; i++) expect(limiter.acquire([])).toEqual({ units: { requests: 1 } });
    let refusal: unknown;
    try {
      limiter.acquire([]);
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(RateLimitedError);
    expect(refusal).toMatchObject({ limiter: 'llm', retryAfterMs: 250, reason: 'limit' });
    expect(isRateLimitedError(refusal)).toBe(true);
  });

  it('refills continuously: one request per limit/interval', () => {
    const { limiter, clock } = limiterWith({ requests: perSecond(4) });
    for (let i = 0; i < 4; i++) limiter.acquire([]);
    clock.advance(249);
    expect(() => limiter.acquire([])).toThrow(RateLimitedError);
    clock.advance(1);
    expect(limiter.acquire([])).toEqual({ units: { requests: 1 } });
  });

  it('never lets more than the limit start within one interval, whatever the timing', () => {
    const { limiter, clock } = limiterWith({ requests: perSecond(10) });
    const starts: number[] = [];
    for (let t = 0; t < 5000; t += 7) {
      try {
        limiter.acquire([]);
        starts.push(clock.now());
      } catch {
        // refused
      }
      clock.advance(7);
    }
    // Token bucket: a full bucket (10) plus what refills during the interval (10).
    for (const start of starts) {
      const inWindow = starts.filter((s) => s >= start && s < start + 1000).length;
      expect(inWindow).toBeLessThanOrEqual(20);
    }
    // ... and on average exactly the rate: 10/s over 5 s plus the first full bucket.
    expect(starts.length).toBeLessThanOrEqual(10 + 50);
    expect(starts.length).toBeGreaterThanOrEqual(50);
  });

  it('queues callers in arrival order within maxWaitMs, and refuses beyond it', async () => {
    const { limiter, clock, events } = limiterWith({ requests: perSecond(2), maxWaitMs: 2000 });
    limiter.acquire([]);
    limiter.acquire([]);
    const order: number[] = [];
    const waiting = [1, 2, 3, 4].map((n) =>
      Promise.resolve(limiter.acquire([])).then(() => order.push(n)),
    );
    expect(() => limiter.acquire([])).toThrow(RateLimitedError);
    for (let i = 0; i < 4; i++) {
      clock.advance(500);
      await flushMicrotasks();
    }
    await Promise.all(waiting);
    expect(order).toEqual([1, 2, 3, 4]);
    expect(events.filter((e) => e.type === 'rate-limit.waiting')).toHaveLength(4);
  });

  it('gives the reservation back when a waiting caller leaves', async () => {
    const { limiter, clock } = limiterWith({ requests: perSecond(1), maxWaitMs: 5000 });
    limiter.acquire([]);
    const controller = new AbortController();
    const waiting = limiter.acquire([], controller.signal) as Promise<unknown>;
    controller.abort(new Error('gone'));
    await expect(waiting).rejects.toThrow('gone');
    clock.advance(1000);
    expect(await limiter.available()).toEqual({ requests: 1 });
  });
});

describe('RateLimiter: tokens', () => {
  const tokens = (actual?: (r: { used?: number }) => number | undefined) => ({
    limit: 100,
    intervalMs: 1000,
    estimate: (n: number) => n,
    actual,
  });

  it('reserves the estimate and charges what the call really used', async () => {
    const { limiter, events } = limiterWith({ tokens: tokens((r) => r.used) });
    const ticket = limiter.acquire([60]) as { units: { tokens: number } };
    expect(await limiter.available()).toEqual({ tokens: 40 });
    limiter.settle(ticket, { used: 10 });
    expect(await limiter.available()).toEqual({ tokens: 90 });
    limiter.settle(limiter.acquire([10]) as never, { used: 50 });
    expect(await limiter.available()).toEqual({ tokens: 40 });
    expect(events).toContainEqual({ type: 'rate-limit.charged', limiter: 'llm', tokens: 50 });
  });

  it('keeps the estimate when actual says nothing, and after a failure', async () => {
    const { limiter } = limiterWith({ tokens: tokens(() => undefined) });
    limiter.settle(limiter.acquire([30]) as never, {});
    limiter.acquire([30]);
    limiter.failed(new Error('boom'));
    expect(await limiter.available()).toEqual({ tokens: 40 });
  });

  it('refuses a reservation larger than the whole limit at once, reserving nothing', async () => {
    const { limiter } = limiterWith({ requests: perSecond(5), tokens: tokens() });
    expect(() => limiter.acquire([101])).toThrow(InvalidOptionsError);
    expect(() => limiter.acquire([101])).toThrow(
      'returned 101 tokens, more than the whole limit (100 per 1000 ms): this call can never run',
    );
    expect(await limiter.available()).toEqual({ requests: 5, tokens: 100 });
  });

  it.each([-1, NaN, Infinity])(
    'fails a call whose estimate is %p, reserving nothing',
    async (n) => {
      const { limiter } = limiterWith({ requests: perSecond(5), tokens: tokens() });
      expect(() => limiter.acquire([n])).toThrow(
        'tokens.estimate should return a finite number >= 0',
      );
      expect(await limiter.available()).toEqual({ requests: 5, tokens: 100 });
    },
  );

  it('reserves requests and tokens together or not at all', async () => {
    const { limiter } = limiterWith({ requests: perSecond(5), tokens: tokens() });
    limiter.acquire([90]);
    expect(() => limiter.acquire([20])).toThrow(RateLimitedError);
    expect(await limiter.available()).toEqual({ requests: 4, tokens: 10 });
  });
});

describe('RateLimiter: provider cooldowns', () => {
  const limited = (headers: Record<string, string>) =>
    Object.assign(new Error('429'), { status: 429, headers });

  it("pauses every caller until the provider's reset (OpenAI's duration format)", async () => {
    const { limiter, clock, events } = limiterWith({ requests: perSecond(100) });
    limiter.failed(
      limited({ 'x-ratelimit-reset-requests': '1m30s', 'x-ratelimit-reset-tokens': '250ms' }),
    );
    expect(events).toContainEqual({
      type: 'rate-limit.cooldown',
      limiter: 'llm',
      durationMs: 90_000,
    });
    expect(() => limiter.acquire([])).toThrow(
      expect.objectContaining({ reason: 'cooldown', retryAfterMs: 90_000 }) as never,
    );
    expect(await limiter.available()).toEqual({ requests: 0 });
    clock.advance(90_000);
    expect(limiter.acquire([])).toEqual({ units: { requests: 1 } });
  });

  it('reads retry-after first, ignores hints on other statuses, and can be switched off', () => {
    const { limiter, clock } = limiterWith({ requests: perSecond(100) });
    limiter.failed(
      Object.assign(new Error('500'), { status: 500, headers: { 'retry-after': '5' } }),
    );
    expect(limiter.acquire([])).toBeDefined();
    limiter.failed(limited({ 'retry-after': '2', 'x-ratelimit-reset-requests': '1m' }));
    clock.advance(1999);
    expect(() => limiter.acquire([])).toThrow(RateLimitedError);
    clock.advance(1);
    expect(limiter.acquire([])).toBeDefined();
    const off = limiterWith({ requests: perSecond(100), cooldownFromErrors: false });
    off.limiter.failed(limited({ 'retry-after': '2' }));
    expect(off.limiter.acquire([])).toBeDefined();
  });

  it.each([
    ['1m30s', 90_000],
    ['6m0s', 360_000],
    ['250ms', 250],
    ['1.5s', 1_500],
    ['2h', 7_200_000],
    ['20', 20_000],
    ['soon', undefined],
  ])('parses the reset duration %p', (text, ms) => {
    expect(parseResetDuration(text)).toBe(ms);
  });
});

describe('RateLimitLayer', () => {
  it('charges a stream when it ends, from the usage its last item reports', async () => {
    const { limiter } = limiterWith({
      tokens: {
        limit: 100,
        intervalMs: 1000,
        estimate: () => 50,
        actual: (c: { usage?: number }) => c.usage,
      },
    });
    async function* tokensOut() {
      yield { text: 'a' };
      yield { text: 'b', usage: 5 };
    }
    const chain = new Chain([new RateLimitLayer(limiter)], tokensOut, 'iterable');
    const stream = chain.invoke(null, []) as AsyncIterable<unknown>;
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    expect(await limiter.available()).toEqual({ tokens: 50 });
    while (!(await iterator.next()).done);
    expect(await limiter.available()).toEqual({ tokens: 95 });
  });

  it('cools down on a rate-limited failure and refuses the next call before it runs', async () => {
    const { limiter } = limiterWith({ requests: perSecond(10) });
    let calls = 0;
    const target = async () => {
      calls++;
      throw Object.assign(new Error('429'), { status: 429, headers: { 'retry-after-ms': '500' } });
    };
    const chain = new Chain([new RateLimitLayer(limiter)], target, 'promise');
    await expect(chain.invoke(null, [])).rejects.toThrow('429');
    await expect(chain.invoke(null, [])).rejects.toBeInstanceOf(RateLimitedError);
    expect(calls).toBe(1);
  });

  it('passes values and errors through unchanged, and ignores hints with cooldownFromErrors: false', async () => {
    const { limiter } = limiterWith({ requests: perSecond(10), cooldownFromErrors: false });
    let fail = true;
    const target = async () => {
      if (!fail) return 'ok';
      throw Object.assign(new Error('429'), { status: 429, headers: { 'retry-after-ms': '500' } });
    };
    const chain = new Chain([new RateLimitLayer(limiter)], target, 'promise');
    await expect(chain.invoke(null, [])).rejects.toThrow('429');
    fail = false;
    await expect(chain.invoke(null, [])).resolves.toBe('ok');
  });
});

describe('RateLimitOptions validation', () => {
  it.each([
    [{}, 'RateLimiter "x": rateLimit needs `requests`, `tokens` or both'],
    [
      { requests: { limit: 0, intervalMs: 1 } },
      'rateLimit.requests.limit should be an integer >= 1, got 0',
    ],
    [
      { requests: { limit: 1, intervalMs: 1.5 } },
      'rateLimit.requests.intervalMs should be an integer >= 1, got 1.5',
    ],
    [
      { requests: { limit: 1, intervalMs: Infinity } },
      'rateLimit.requests.intervalMs should be an integer >= 1',
    ],
    [{ tokens: { limit: 1, intervalMs: 1 } }, 'rateLimit.tokens.estimate is required'],
    [{ requests: { limit: 1, intervalMs: 1, per: 2 } }, 'rateLimit.requests.per is not an option'],
  ])('refuses %j', (options, message) => {
    expect(() => new RateLimiter('x', options as RateLimitOptions)).toThrow(message);
  });
});

describe('RateLimiter: the library’s own refusals', () => {
  it('never cools down on an open circuit below it, whatever its retryAfterMs', async () => {
    const { limiter, events } = limiterWith({ requests: perSecond(10) });
    const { CircuitOpenError } = await import('../circuit-breaker/circuit-open.error.js');
    limiter.failed(new CircuitOpenError('llm', 30_000));
    expect(events.filter((e) => e.type === 'rate-limit.cooldown')).toEqual([]);
    expect(limiter.acquire([])).toEqual({ units: { requests: 1 } });
  });
});
