import { InMemoryRateLimitStore } from '../../../lib/rate-limit/in-memory-rate-limit.store.js';
import { isRateLimitedError } from '../../../lib/rate-limit/rate-limited.error.js';
import { RateLimiter } from '../../../lib/rate-limit/rate-limiter.js';
import type { RateLimitStore } from '../../../lib/rate-limit/rate-limit.store.js';
import { RedisRateLimitStore } from '../../../lib/redis/index.js';
import type { WorkerInit } from '../fleet.js';
import { connect, serve, sleep } from './worker-runtime.js';

/**
 * A worker for fleet-rate-limit.spec.ts: callers that run a protected function through a
 * `RateLimiter` on the shared Redis store (or, as a control, on a store of this process only).
 * Every start is counted outside the limiter: a script appends the Redis server's time (in µs)
 * to a list, so the parent sees every start of every process on one clock.
 */

interface RateLimitInit extends WorkerInit {
  limit: number;
  intervalMs: number;
}

type StoreKind = 'redis' | 'memory';

/** Appends `<worker>:<server time in µs>` to KEYS[1]; the list lives 10 minutes. */
const RECORD_START = `
local t = redis.call('TIME')
redis.call('RPUSH', KEYS[1], ARGV[1] .. ':' .. t[1] .. string.format('%06d', tonumber(t[2])))
redis.call('PEXPIRE', KEYS[1], 600000)
return 1
`;

let settings: RateLimitInit;
let client: ReturnType<typeof connect>;
let worker: string;
const stores: Record<StoreKind, RateLimitStore> = {} as Record<StoreKind, RateLimitStore>;
const limiters = new Map<string, RateLimiter>();
/** The last cooldown this process sent, so `cooldown` can answer once Redis has it. */
let lastCooldown: Promise<void> = Promise.resolve();

function limiterFor(name: string, maxWaitMs: number, store: StoreKind): RateLimiter {
  const id = `${name}|${maxWaitMs}|${store}`;
  let limiter = limiters.get(id);
  if (limiter === undefined) {
    const requests = { limit: settings.limit, intervalMs: settings.intervalMs };
    limiter = new RateLimiter(name, { requests, maxWaitMs }, stores[store]);
    limiters.set(id, limiter);
  }
  return limiter;
}

/** The protected function: it only records that it started. */
async function protectedCall(name: string): Promise<void> {
  await client.eval(RECORD_START, 1, `fleet:starts:{${name}}`, worker);
}

serve(
  (init) => {
    settings = init as RateLimitInit;
    worker = String(settings.index);
    client = connect(init.connection);
    const redis = new RedisRateLimitStore(client, {
      keyPrefix: init.keyPrefix,
      checkClient: false,
      logger: { warn: () => undefined },
      operationTimeoutMs: 1000,
    });
    const cooldown = redis.cooldown.bind(redis);
    redis.cooldown = (request) => (lastCooldown = cooldown(request));
    stores.redis = redis;
    stores.memory = new InMemoryRateLimitStore();
  },
  {
    /**
     * `callers` loops calling the protected function through the limiter for `durationMs`; a
     * refused call retries after min(retryAfterMs, 20 ms). Answers starts and refusals.
     */
    async load({ name, callers, durationMs, maxWaitMs = 0, store = 'redis' }) {
      const limiter = limiterFor(name, maxWaitMs, store);
      const until = performance.now() + durationMs;
      let started = 0;
      let refused = 0;
      const caller = async () => {
        while (performance.now() < until) {
          try {
            await limiter.acquire([]);
          } catch (error) {
            if (!isRateLimitedError(error)) throw error;
            refused++;
            await sleep(Math.min(error.retryAfterMs, 20));
            continue;
          }
          started++;
          await protectedCall(name);
        }
      };
      await Promise.all(Array.from({ length: callers }, caller));
      return { started, refused };
    },
    /** A provider's 429 asking for `pauseMs`, as the limiter sees it; answers once Redis has it. */
    async cooldown({ name, pauseMs }) {
      const error = { status: 429, headers: { 'retry-after-ms': String(pauseMs) } };
      limiterFor(name, 0, 'redis').failed(error);
      await lastCooldown;
      return true;
    },
  },
);
