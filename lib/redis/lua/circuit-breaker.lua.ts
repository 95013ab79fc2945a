import { luaScript } from './script.js';

/*
 * Circuit state, one hash tag per circuit:
 *   KEYS[1] `st`    HASH  v (schema), s (c|o|h), e (epoch), f (consecutive failures), u (openUntil),
 *                         x (1 while held open by force, until forced closed; then u is unused)
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

-- The retry hint of a circuit held open by force: one recovery window, 1 s when it is 0.
local function held_hint(window)
  if window <= 0 then return 1000 end
  return window
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
local st = redis.call('HMGET', KEYS[1], 's', 'e', 'u', 'x')
local s, e, u = st[1], tonumber(st[2]), tonumber(st[3])
if not s then
  redis.call('HSET', KEYS[1], 'v', 1, 's', 'c', 'e', now, 'f', 0, 'u', 0)
  touch(KEYS[1], ttl)
  return {1, now, now, 0, 0, ''}
end
if s == 'c' then return {1, e, now, 0, 0, ''} end
local window = tonumber(ARGV[7])
local from = ''
if s == 'o' then
  if st[4] == '1' then
    local hint = held_hint(window)
    return {0, e, now, now + hint, hint, ''}
  end
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
redis.call('HSET', KEYS[1], 's', 'o', 'e', e, 'f', f, 'u', u, 'x', 0)
touch(KEYS[1], ttl)
redis.call('DEL', KEYS[2])
publish(ARGV[7], 'o', e, u, now, ARGV[8])
return {2, e, now, u, s, 'o'}
`,
);

/** No ARGV. Returns {state, failures, epoch, openUntil, liveProbes, now, forced}; no writes. */
export const CB_SNAPSHOT = luaScript(
  'cb_snapshot',
  2,
  `
local now = now_ms()
local st = redis.call('HMGET', KEYS[1], 's', 'f', 'e', 'u', 'x')
if not st[1] then return {'c', 0, 0, 0, 0, now, 0} end
local probes = 0
if st[1] == 'h' then probes = redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf') end
local forced = 0
if st[1] == 'o' and st[5] == '1' then forced = 1 end
return {st[1], tonumber(st[2]), tonumber(st[3]), tonumber(st[4]), probes, now, forced}
`,
);

/**
 * Moves an open circuit to half-open as its recovery window ends, for the process whose outcome
 * opened it (its timer). Does nothing if the circuit left that epoch (a call moved it first) or
 * is held open by force. ARGV: epoch, ttlMs, channel, name.
 * Returns {code, epoch, now, openUntil, from, to}: code 0 nothing to do, 1 not yet (then
 * {1, remainingMs}), 2 transition.
 */
export const CB_RECOVER = luaScript(
  'cb_recover',
  2,
  `${SHARED}
local now = now_ms()
local st = redis.call('HMGET', KEYS[1], 's', 'e', 'u', 'x')
local e = tonumber(st[2])
if st[1] ~= 'o' or st[4] == '1' or e ~= tonumber(ARGV[1]) then return {0} end
local u = tonumber(st[3])
if now < u then return {1, u - now} end
e = e + 1
redis.call('HSET', KEYS[1], 's', 'h', 'e', e)
touch(KEYS[1], tonumber(ARGV[2]))
redis.call('DEL', KEYS[2])
publish(ARGV[3], 'h', e, 0, now, ARGV[4])
return {2, e, now, 0, 'o', 'h'}
`,
);

/**
 * ARGV: target (o|c), recoveryWindowMs, ttlMs, channel, name. Forcing open holds the circuit
 * open (x = 1) until it is forced closed; forcing open an open circuit holds it without a
 * transition (same epoch), as the in-memory store does. The published open time is one retry
 * hint ahead: processes cache the refusal that long, then ask again.
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
  redis.call('HSET', KEYS[1], 'v', 1, 's', 'c', 'e', e, 'f', 0, 'u', 0, 'x', 0)
  touch(KEYS[1], ttl)
  redis.call('DEL', KEYS[2])
  publish(ARGV[4], 'c', e, 0, now, ARGV[5])
  return {2, e, now, 0, s, 'c'}
end
local cached = now + held_hint(tonumber(ARGV[2]))
if s == 'o' then
  -- Already open: now held, not a transition (same epoch). Published so that the processes
  -- caching the open circuit extend their cache too.
  redis.call('HSET', KEYS[1], 'x', 1, 'u', 0)
  touch(KEYS[1], ttl)
  publish(ARGV[4], 'o', e, cached, now, ARGV[5])
  return {0}
end
e = e + 1
redis.call('HSET', KEYS[1], 'v', 1, 's', 'o', 'e', e, 'u', 0, 'x', 1)
redis.call('HSETNX', KEYS[1], 'f', 0)
touch(KEYS[1], ttl)
redis.call('DEL', KEYS[2])
publish(ARGV[4], 'o', e, cached, now, ARGV[5])
return {2, e, now, cached, s, 'o'}
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
