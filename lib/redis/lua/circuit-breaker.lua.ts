import { luaScript } from './script.js';

/*
 * Circuit state, one hash tag per circuit:
 *   KEYS[1] `st`    HASH  v (schema), s (c|o|h), e (epoch), f (consecutive failures), u (openUntil)
 *   KEYS[2] `probe` ZSET  probe token -> lease deadline (server ms), only while half-open
 * A missing `st` reads closed. A new state starts its epoch at the server time, so an epoch is
 * never reused after Redis lost the state (restart, expiry): a late outcome from before the loss
 * stays stale. Every transition increments the epoch and publishes `s|e|u|now|name`.
 */

const SHARED = `
local function publish(channel, s, e, u, now, name)
  redis.call('PUBLISH', channel, string.format('%s|%d|%d|%d|%s', s, e, u, now, name))
end

local function touch(key, ttl)
  redis.call('PEXPIRE', key, ttl)
end
`;

/**
 * ARGV: maxProbes, probeLeaseMs, token, ttlMs, channel, name, recoveryWindowMs.
 * Returns {code, epoch, now, openUntil, retryAfterMs, from}; code 0 rejected, 1 closed, 2 probe.
 */
export const CB_ADMIT = luaScript(
  'cb_admit',
  2,
  `${SHARED}
local now = now_ms()
local ttl = tonumber(ARGV[4])
local st = redis.call('HMGET', KEYS[1], 's', 'e', 'u')
local s, e, u = st[1], tonumber(st[2]), tonumber(st[3])
if not s then
  redis.call('HSET', KEYS[1], 'v', 1, 's', 'c', 'e', now, 'f', 0, 'u', 0)
  touch(KEYS[1], ttl)
  return {1, now, now, 0, 0, ''}
end
if s == 'c' then return {1, e, now, 0, 0, ''} end
local from = ''
if s == 'o' then
  if now < u then return {0, e, now, u, u - now, ''} end
  e = e + 1
  from = 'o'
  redis.call('HSET', KEYS[1], 's', 'h', 'e', e)
  touch(KEYS[1], ttl)
  redis.call('DEL', KEYS[2])
  publish(ARGV[5], 'h', e, 0, now, ARGV[6])
end
-- Half-open: expired leases free their slots (a crashed or hung prober).
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local lease = tonumber(ARGV[2])
if redis.call('ZCARD', KEYS[2]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[2], now + lease, ARGV[3])
  if redis.call('PTTL', KEYS[2]) < lease then touch(KEYS[2], lease) end
  return {2, e, now, 0, 0, from}
end
local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local window = tonumber(ARGV[7])
if window <= 0 then window = 1000 end
return {0, e, now, 0, math.max(1, math.min(tonumber(first[2]) - now, window)), from}
`,
);

/**
 * ARGV: epoch, outcome (s|f|i), probe token or '', threshold, recoveryWindowMs, ttlMs, channel,
 * name. Returns {code, epoch, now, openUntil, from, to}; code 0 stale, 1 counted, 2 transition.
 */
export const CB_RECORD = luaScript(
  'cb_record',
  2,
  `${SHARED}
local st = redis.call('HMGET', KEYS[1], 's', 'e', 'f')
local s, e, f = st[1], tonumber(st[2]), tonumber(st[3])
-- An outcome from another epoch (or from before the state was lost) changes nothing.
if not s or e ~= tonumber(ARGV[1]) then return {0} end
if ARGV[3] ~= '' then redis.call('ZREM', KEYS[2], ARGV[3]) end
if ARGV[2] == 'i' then return {1} end
local now = now_ms()
local ttl = tonumber(ARGV[6])
if ARGV[2] == 's' then
  if s == 'h' then
    e = e + 1
    redis.call('HSET', KEYS[1], 's', 'c', 'e', e, 'f', 0, 'u', 0)
    touch(KEYS[1], ttl)
    redis.call('DEL', KEYS[2])
    publish(ARGV[7], 'c', e, 0, now, ARGV[8])
    return {2, e, now, 0, 'h', 'c'}
  end
  if f ~= 0 then
    redis.call('HSET', KEYS[1], 'f', 0)
    touch(KEYS[1], ttl)
  end
  return {1}
end
f = f + 1
if s == 'c' and f < tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'f', f)
  touch(KEYS[1], ttl)
  return {1}
end
e = e + 1
local u = now + tonumber(ARGV[5])
redis.call('HSET', KEYS[1], 's', 'o', 'e', e, 'f', f, 'u', u)
touch(KEYS[1], ttl)
redis.call('DEL', KEYS[2])
publish(ARGV[7], 'o', e, u, now, ARGV[8])
return {2, e, now, u, s, 'o'}
`,
);

/** No ARGV. Returns {state, failures, epoch, openUntil, liveProbes, now}; no writes. */
export const CB_SNAPSHOT = luaScript(
  'cb_snapshot',
  2,
  `
local now = now_ms()
local st = redis.call('HMGET', KEYS[1], 's', 'f', 'e', 'u')
if not st[1] then return {'c', 0, 0, 0, 0, now} end
local probes = 0
if st[1] == 'h' then probes = redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf') end
return {st[1], tonumber(st[2]), tonumber(st[3]), tonumber(st[4]), probes, now}
`,
);

/**
 * ARGV: target (o|c), recoveryWindowMs, ttlMs, channel, name. Forcing open an open circuit
 * restarts its recovery window without a transition, as the in-memory store does.
 * Returns {code, epoch, now, openUntil, from, to}; code 0 no transition, 2 transition.
 */
export const CB_FORCE = luaScript(
  'cb_force',
  2,
  `${SHARED}
local now = now_ms()
local ttl = tonumber(ARGV[3])
local st = redis.call('HMGET', KEYS[1], 's', 'e')
local s, e = st[1] or 'c', tonumber(st[2]) or now
if ARGV[1] == 'c' then
  if s == 'c' then
    if st[1] then
      redis.call('HSET', KEYS[1], 'f', 0)
      touch(KEYS[1], ttl)
    end
    return {0}
  end
  e = e + 1
  redis.call('HSET', KEYS[1], 'v', 1, 's', 'c', 'e', e, 'f', 0, 'u', 0)
  touch(KEYS[1], ttl)
  redis.call('DEL', KEYS[2])
  publish(ARGV[4], 'c', e, 0, now, ARGV[5])
  return {2, e, now, 0, s, 'c'}
end
local u = now + tonumber(ARGV[2])
if s == 'o' then
  -- Already open: a new recovery window, not a transition (same epoch). Published so that the
  -- processes caching the open circuit extend their cache too.
  redis.call('HSET', KEYS[1], 'u', u)
  touch(KEYS[1], ttl)
  publish(ARGV[4], 'o', e, u, now, ARGV[5])
  return {0}
end
e = e + 1
redis.call('HSET', KEYS[1], 'v', 1, 's', 'o', 'e', e, 'u', u)
redis.call('HSETNX', KEYS[1], 'f', 0)
touch(KEYS[1], ttl)
redis.call('DEL', KEYS[2])
publish(ARGV[4], 'o', e, u, now, ARGV[5])
return {2, e, now, u, s, 'o'}
`,
);

/** Frees the probe slot of an admission whose reply was lost. KEYS: st, probe. ARGV: token. */
export const CB_RELEASE_PROBE = luaScript(
  'cb_release_probe',
  2,
  `
return redis.call('ZREM', KEYS[2], ARGV[1])
`,
);
