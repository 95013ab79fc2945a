import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { InvalidOptionsError } from '../core/invalid-options.error.js';
import { luaScript } from './lua/script.js';
import { DEFAULT_REDIS_BACKEND_OPTIONS, resolveBackendOptions } from './redis-options.js';
import { queuedBytes, WriteQueue, type Undo } from './write-queue.js';

const SCRIPT = luaScript('test_release', 1, "return redis.call('DEL', KEYS[1])");

/** A write ending lease `token`, carrying `payloadBytes` of argument (a dedupe result, say). */
function write(token: string, payloadBytes = 0, maxAgeMs = 30_000): Undo {
  return {
    script: SCRIPT,
    keys: [`k:${token}`],
    args: [token, 'x'.repeat(payloadBytes)],
    maxAgeMs,
  };
}

/** A queue whose Redis is down until `up()`; `sent` lists the tokens of the writes it ran. */
function downQueue(maxBytes: number) {
  let available = false;
  const sent: string[] = [];
  const warnings: string[] = [];
  const queue = new WriteQueue({
    run: (w) => {
      sent.push(w.args[0] as string);
      return available ? Promise.resolve(1) : Promise.reject(new Error('down'));
    },
    degraded: () => !available,
    open: () => available,
    lateResendMs: 1000,
    maxBytes,
    warn: (message) => warnings.push(message),
  });
  const up = () => (available = true);
  return { queue, sent, warnings, up };
}

describe('WriteQueue bounds', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('holds at most maxBytes: past it the oldest writes are dropped, counted and reported once', async () => {
    const each = queuedBytes(write('w1', 3000));
    const { queue, sent, warnings, up } = downQueue(3 * each + 10);

    for (let i = 1; i <= 5; i++) queue.add(write(`w${i}`, 3000));

    expect(queue.queuedBytes).toBe(3 * each);
    expect(queue.dropped).toBe(2);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/queue of writes to replay .* is full .*maxQueuedWriteBytes/);
    up();
    await queue.lastTry();
    expect(sent).toEqual(['w3', 'w4', 'w5']);
    expect(queue.queuedBytes).toBe(0);
    queue.stop();
  });

  it('never queues a write larger than the bound, and keeps what it had', async () => {
    const { queue, sent, up } = downQueue(10_000);
    queue.add(write('small', 100));

    queue.add(write('huge', 20_000));

    expect(queue.dropped).toBe(1);
    up();
    await queue.lastTry();
    expect(sent).toEqual(['small']);
    queue.stop();
  });

  it('drops expired writes before live ones, without counting them', async () => {
    const each = queuedBytes(write('old', 3000, 1000));
    const { queue, sent, up } = downQueue(2 * each + 10);
    queue.add(write('old', 3000, 1000));
    queue.add(write('live', 3000, 60_000));
    jest.advanceTimersByTime(1500); // 'old' has lapsed by itself

    queue.add(write('new', 3000, 60_000));

    expect(queue.dropped).toBe(0);
    up();
    await queue.lastTry();
    expect(sent).toEqual(['live', 'new']);
    queue.stop();
  });

  it('reports a new overflow once the queue has been emptied', async () => {
    const each = queuedBytes(write('a', 1000));
    const { queue, warnings, up } = downQueue(each + 10);
    queue.add(write('a', 1000));
    queue.add(write('b', 1000));
    queue.add(write('c', 1000));
    expect(warnings).toHaveLength(1);

    up();
    await queue.lastTry();
    queue.add(write('d', 1000));
    queue.add(write('e', 1000));

    expect(warnings).toHaveLength(2);
    expect(warnings[1]).toContain('3 so far');
    queue.stop();
  });

  it('counts keys, string arguments in UTF-8 bytes and numbers', () => {
    const base = queuedBytes({ script: SCRIPT, keys: [], args: [], maxAgeMs: 1 });
    const undo: Undo = { script: SCRIPT, keys: ['abc'], args: ['é', 42], maxAgeMs: 1 };

    expect(queuedBytes(undo) - base).toBe(3 + 2 + 8);
  });

  it('is bounded by the maxQueuedWriteBytes option: 8 MiB by default, a positive number', () => {
    expect(resolveBackendOptions({}).maxQueuedWriteBytes).toBe(8 * 1024 * 1024);
    expect(DEFAULT_REDIS_BACKEND_OPTIONS.maxQueuedWriteBytes).toBe(8 * 1024 * 1024);
    expect(resolveBackendOptions({ maxQueuedWriteBytes: 1024 }).maxQueuedWriteBytes).toBe(1024);
    for (const bad of [0, -1, Number.NaN, '8mb']) {
      const resolving = () => resolveBackendOptions({ maxQueuedWriteBytes: bad as number });
      expect(resolving).toThrow(InvalidOptionsError);
      expect(resolving).toThrow(/^Redis stores: maxQueuedWriteBytes should be a .*number >= 1/);
    }
  });
});
