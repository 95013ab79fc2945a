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

/*
 * The failure-rate / slow-call window of a closed circuit, fleet-wide:
 *   KEYS[3] `win` HASH  e (the closed epoch it belongs to: another epoch reads empty), and
 *     a count window: r = the last windowSize outcomes, one char each ('0' + 1 failure + 2 slow),
 *       in the order their batches arrived (each process's calls in call order);
 *     a time window: c<b>, f<b>, s<b> = calls, failures, slow calls of server-time bucket b of
 *       width windowMs / 10; the window is the 10 buckets up to now's.
 * ARGV[1..2] of both scripts: kind (n|t), windowSize or windowMs.
 */
const WINDOW = `
local function count_chars(r, pattern)
  local _, n = string.gsub(r, pattern, '')
  return n
end

local function window_stats(kind, size, now)
  if kind == 'n' then
    local r = redis.call('HGET', KEYS[3], 'r') or ''
    return string.len(r), count_chars(r, '[13]'), count_chars(r, '[23]')
  end
  local width = size / 10
  local current = math.floor(now / width)
  local fields = {}
  for b = current - 9, current do
    local id = string.format('%d', b)
    table.insert(fields, 'c' .. id)
    table.insert(fields, 'f' .. id)
    table.insert(fields, 's' .. id)
  end
  local v = redis.call('HMGET', KEYS[3], unpack(fields))
  local calls, failures, slow = 0, 0, 0
  for i = 1, #v, 3 do
    calls = calls + (tonumber(v[i]) or 0)
    failures = failures + (tonumber(v[i + 1]) or 0)
    slow = slow + (tonumber(v[i + 2]) or 0)
  end
  return calls, failures, slow
end

-- The window belongs to one closed spell: a window of another epoch is dropped.
local function own_window(epoch)
  if tonumber(redis.call('HGET', KEYS[3], 'e')) ~= epoch then
    redis.call('DEL', KEYS[3])
    redis.call('HSET', KEYS[3], 'e', epoch)
  end
end
`;

/**
 * Merges one process's batch of outcomes into the window of its closed spell and opens the
 * circuit when the merged window crosses a threshold. ARGV: kind, size, epoch, minimumCalls,
 * failureRateThreshold (-1 unused), slowCallRateThreshold (-1 unused), recoveryWindowMs, ttlMs,
 * channel, name, batch: for a count window the outcomes' chars in call order; for a time window
 * `age,calls,failures,slow;...` (age: ms between the segment's last call and the send).
 * Returns {code, epoch, now, openUntil, state, reason, calls, failures, slow}: code 0 the batch
 * is stale (the circuit left that closed spell, or its state was lost), 1 merged, 2 opened.
 */
export const CB_WINDOW_SYNC = luaScript(
  'cb_window_sync',
  3,
  `${SHARED}${WINDOW}
local now = now_ms()
local kind, size, epoch = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local st = redis.call('HMGET', KEYS[1], 's', 'e', 'u')
local s, e = st[1], tonumber(st[2])
if s ~= 'c' or e ~= epoch then return {0, e or 0, now, tonumber(st[3]) or 0, s or ''} end
local ttl = tonumber(ARGV[8])
touch(KEYS[1], ttl) -- a closed circuit in use writes nothing else to its state
own_window(epoch)
local batch = ARGV[11]
if kind == 'n' then
  local r = (redis.call('HGET', KEYS[3], 'r') or '') .. batch
  if string.len(r) > size then r = string.sub(r, -size) end
  redis.call('HSET', KEYS[3], 'r', r)
else
  local width = size / 10
  local current = math.floor(now / width)
  for age, c, f, sl in string.gmatch(batch, '(%d+),(%d+),(%d+),(%d+)') do
    local b = math.floor((now - tonumber(age)) / width)
    if b > current - 10 then
      local id = string.format('%d', b)
      redis.call('HINCRBY', KEYS[3], 'c' .. id, c)
      redis.call('HINCRBY', KEYS[3], 'f' .. id, f)
      redis.call('HINCRBY', KEYS[3], 's' .. id, sl)
    end
  end
  -- Drop the buckets that left the window (the hash holds a few dozen fields at most).
  for _, field in ipairs(redis.call('HKEYS', KEYS[3])) do
    local b = tonumber(string.sub(field, 2))
    if field ~= 'e' and b and b <= current - 10 then redis.call('HDEL', KEYS[3], field) end
  end
end
touch(KEYS[3], ttl)
local calls, failures, slow = window_stats(kind, size, now)
local reason = ''
if calls > 0 and calls >= tonumber(ARGV[4]) then
  local fr, sr = tonumber(ARGV[5]), tonumber(ARGV[6])
  if fr >= 0 and failures / calls >= fr then reason = 'failure-rate'
  elseif sr >= 0 and slow / calls >= sr then reason = 'slow-call-rate' end
end
if reason == '' then return {1, e, now, 0, 'c', '', calls, failures, slow} end
e = e + 1
local u = now + tonumber(ARGV[7])
redis.call('HSET', KEYS[1], 's', 'o', 'e', e, 'u', u, 'x', 0)
touch(KEYS[1], ttl)
redis.call('DEL', KEYS[2], KEYS[3])
publish(ARGV[9], 'o', e, u, now, ARGV[10])
return {2, e, now, u, 'c', reason, calls, failures, slow}
`,
);

/**
 * CB_SNAPSHOT's reply followed by the window's calls, failures and slow calls (0 unless the
 * circuit is closed). ARGV: kind, size. No writes.
 */
export const CB_WINDOW_SNAPSHOT = luaScript(
  'cb_window_snapshot',
  3,
  `${WINDOW}
local now = now_ms()
local st = redis.call('HMGET', KEYS[1], 's', 'f', 'e', 'u', 'x')
if not st[1] then return {'c', 0, 0, 0, 0, now, 0, 0, 0, 0} end
local probes = 0
if st[1] == 'h' then probes = redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf') end
local forced = 0
if st[1] == 'o' and st[5] == '1' then forced = 1 end
local calls, failures, slow = 0, 0, 0
if st[1] == 'c' and tonumber(redis.call('HGET', KEYS[3], 'e')) == tonumber(st[3]) then
  calls, failures, slow = window_stats(ARGV[1], tonumber(ARGV[2]), now)
end
return {st[1], tonumber(st[2]), tonumber(st[3]), tonumber(st[4]), probes, now, forced,
  calls, failures, slow}
`,
);
