import { describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { isInvalidOptionsError } from '../../lib/index.js';
import { RedisCircuitBreakerStore, redisStores } from '../../lib/redis/index.js';

describe('Redis client options the stores refuse', () => {
  it('refuses a client with enableAutoPipelining, naming the option and the fix', () => {
    // lazyConnect: the check happens before any connection, so no server is needed.
    const client = new Redis({ lazyConnect: true, enableAutoPipelining: true });
    try {
      let error: unknown;
      try {
        new RedisCircuitBreakerStore(client);
      } catch (caught) {
        error = caught;
      }
      expect(isInvalidOptionsError(error)).toBe(true);
      expect(String((error as Error).message)).toContain(
        'Redis stores: client option enableAutoPipelining should be false',
      );
      expect(() => redisStores(client)).toThrow(/enableAutoPipelining/);
    } finally {
      client.disconnect();
    }
  });
});
