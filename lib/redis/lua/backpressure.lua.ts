import { luaScript } from './script.js';

/*
 * One guard, one hash tag:
 *   `h`  ZSET    slot token -> lease deadline (server ms); lapsed leases are reclaimed lazily
 *   `w`  STRING  "someone is waiting", PX waitFlagMs, set by a refused acquire: only then does a
 *                release publish a wake-up on the guard's channel
 *   `q`  ZSET    process -> since when (server ms) it has callers waiting, for fairness
 *   `qa` ZSET    process -> until when its entry in `q` lives unless it asks again (waiting
 *                processes ask at least every 100 ms), so a crashed process's entry goes away
 */

const EXTEND = `
local function extend(key, ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
`;

/**
 * KEYS: holders, waiting flag, waiting since, waiting alive-until.
 * ARGV: token, capacity, leaseMs, waitFlagMs, process, waiting (0|1), passOverMs, the token of
 * the slot to free first ('' for none: a plain acquire; else a hand-over), channel.
 * Returns {1, depth, 0} granted or {0, depth, msUntilTheEarliestLeaseLapses}.
 *
 * Fairness: a process whose callers have waited longer than passOverMs holds a place; a caller
 * of another process is granted only when a slot is left beyond the places of the processes
 * overdue before it. A hand-over refused for that frees its slot and publishes the release, so
 * the overdue process takes it.
 */
export const BP_ACQUIRE = luaScript(
  'bp_acquire',
  4,
  `${EXTEND}
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local gone = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now)
for i = 1, #gone do
  redis.call('ZREM', KEYS[3], gone[i])
  redis.call('ZREM', KEYS[4], gone[i])
end
local freed = 0
if ARGV[8] ~= '' then freed = redis.call('ZREM', KEYS[1], ARGV[8]) end
local held = redis.call('ZCARD', KEYS[1])
local me = ARGV[5]
local since = redis.call('ZSCORE', KEYS[3], me)
local cutoff = now - tonumber(ARGV[7])
if since and tonumber(since) < cutoff then cutoff = tonumber(since) end
local ahead = redis.call('ZCOUNT', KEYS[3], '-inf', '(' .. cutoff)
if held + ahead < tonumber(ARGV[2]) then
  local lease = tonumber(ARGV[3])
  redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
  extend(KEYS[1], lease)
  if since then
    redis.call('ZREM', KEYS[3], me)
    redis.call('ZREM', KEYS[4], me)
  end
  return {1, held + 1, 0}
end
local flagMs = tonumber(ARGV[4])
redis.call('SET', KEYS[2], 1, 'PX', flagMs)
if freed == 1 then redis.call('PUBLISH', ARGV[9], held) end
if ARGV[6] == '1' then
  redis.call('ZADD', KEYS[3], 'NX', now, me)
  redis.call('ZADD', KEYS[4], now + flagMs, me)
  extend(KEYS[3], 2 * flagMs)
  extend(KEYS[4], 2 * flagMs)
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] == nil then return {0, held, 0} end
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
