import { RateLimiter } from '../lib/index.js';
import { RateLimitLayer } from '../lib/rate-limit/rate-limit.layer.js';
import { FloorTokenBucket } from './floors.js';
import type { Row } from './harness.js';
import { NEVER_LIMITED, type BenchApp } from './nest-app.js';
import { chainOf, op, sequential, viaChain } from './rows.js';

/** Issue 16: what admitting a call costs when the limit is far away, as most calls go. */
export const RATE_LIMIT_SCENARIO = {
  id: 'rate-limit',
  title: 'rate limit, in memory, admitted (the limit is never reached)',
} as const;

/** cockatiel and opossum have no rate limiter: the yardstick is a hand-written token bucket. */
export function rateLimitRows({ service, standalone }: BenchApp): Row[] {
  const limiter = new RateLimiter('bench.rate-limit', NEVER_LIMITED);
  const chain = chainOf([new RateLimitLayer(limiter)]);
  const { limit, intervalMs } = NEVER_LIMITED.requests;
  const bucket = new FloorTokenBucket(limit, intervalMs);
  return sequential(RATE_LIMIT_SCENARIO.id, 'resolve', [
    ['ours: Chain of layers', 'ours', viaChain(chain)],
    ['ours: @RateLimit on a Nest provider', 'ours', () => service.rateLimited()],
    ['ours: @RateLimit, standalone (new, no Nest)', 'ours', () => standalone.rateLimited()],
    ['hand-written token bucket', 'floor', () => bucket.run(op)],
  ]);
}
