import { luaScript } from './script.js';

/*
 * One guard, one hash tag:
 *   `h` ZSET    slot token -> lease deadline (server ms); lapsed leases are reclaimed lazily
 *   `w` STRING  "someone is waiting", PX waitFlagMs, set by a refused acquire: only then does a
 *               release publish a wake-up on the guard's channel
 */

const EXTEND = `
local function extend(key, ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
`;

/**
 * KEYS: holders, waiting flag. ARGV: token, capacity, leaseMs, waitFlagMs.
 * Returns {1, depth, 0} granted or {0, depth, msUntilTheEarliestLeaseLapses}.
 */
export const BP_ACQUIRE = luaScript(
  'bp_acquire',
  2,
  `${EXTEND}
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local held = redis.call('ZCARD', KEYS[1])
if held < tonumber(ARGV[2]) then
  local lease = tonumber(ARGV[3])
  redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
  extend(KEYS[1], lease)
  return {1, held + 1, 0}
end
redis.call('SET', KEYS[2], 1, 'PX', tonumber(ARGV[4]))
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, held, tonumber(first[2]) - now}
`,
);

/** KEYS: holders, waiting flag. ARGV: token, channel. Returns the depth after the release. */
export const BP_RELEASE = luaScript(
  'bp_release',
  2,
  `
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms())
local held = redis.call('ZCARD', KEYS[1])
if removed == 1 and redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('PUBLISH', ARGV[2], held)
end
return held
`,
);

/**
 * KEYS: holders. ARGV: token, leaseMs. Returns 1, or 0 when the lease is gone: a lapsed slot
 * is never re-added (its holder must report the loss, not silently exceed the cap).
 */
export const BP_RENEW = luaScript(
  'bp_renew',
  1,
  `${EXTEND}
local now = now_ms()
local deadline = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not deadline then return 0 end
if tonumber(deadline) <= now then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
local lease = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], 'XX', now + lease, ARGV[1])
extend(KEYS[1], lease)
return 1
`,
);

/** KEYS: holders. Live slots; read-only. */
export const BP_DEPTH = luaScript(
  'bp_depth',
  1,
  `
return redis.call('ZCOUNT', KEYS[1], '(' .. now_ms(), '+inf')
`,
);
