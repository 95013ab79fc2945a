import { luaScript } from './script.js';

/*
 * One limiter, one hash tag, one key:
 *   `s`  HASH  r -> TAT of the requests bucket, t -> TAT of the tokens bucket, c -> cooldown
 *              deadline (server ms, floats kept exactly with %.17g). Its TTL runs to the latest
 *              of the three: past it, the state equals a fresh limiter's, so it may go.
 * One retry budget, one hash tag, one key:
 *   `w`  HASH  c:<second> -> calls, r:<second> -> retries, one pair per 1 s bucket of the last
 *              10 s; older buckets are deleted by every write, the hash expires with the window.
 *
 * The GCRA math is gcra.ts line by line (Lua numbers are doubles, as in JS). Replies carry
 * fractional ms as strings: Redis would truncate a Lua number to an integer.
 */

/** Shared by the limiter scripts: exact number formatting, the bucket arguments, the TTL. */
const LIMITER = `
local function exact(x) return string.format('%.17g', x) end
-- ARGV from index i: limit, intervalMs, units ('' when the dimension or its units are absent).
local function bucket_at(i)
  if ARGV[i] == '' then return nil end
  return { limit = tonumber(ARGV[i]), interval = tonumber(ARGV[i + 1]), units = ARGV[i + 2] }
end
local function spacing(b) return b.interval / b.limit end
local function state(key)
  local s = redis.call('HMGET', key, 'r', 't', 'c')
  return { r = tonumber(s[1] or '0'), t = tonumber(s[2] or '0'), c = tonumber(s[3] or '0') }
end
-- Keeps the key until its latest deadline has passed (+1 s for the ms rounding), never less.
local function save(key, s, now)
  redis.call('HSET', key, 'r', exact(s.r), 't', exact(s.t), 'c', exact(s.c))
  local last = math.max(s.r, s.t, s.c)
  redis.call('PEXPIRE', key, math.max(1, math.ceil(last - now)) + 1000)
end
`;

/**
 * KEYS: limiter state. ARGV: maxWaitMs, then limit, intervalMs, units for requests (2..4) and
 * for tokens (5..7). Reserves both dimensions or neither. Returns {1, delayMs} granted, or
 * {0, retryAfterMs, reason} refused; the ms as strings.
 */
export const RL_RESERVE = luaScript(
  'rl_reserve',
  1,
  `${LIMITER}
local now = now_ms()
local s = state(KEYS[1])
local max_wait = tonumber(ARGV[1])
local pause = s.c - now
if pause > max_wait then return {0, exact(math.ceil(pause)), 'cooldown'} end
local delay = math.max(0, pause)
local dims = { r = bucket_at(2), t = bucket_at(5) }
local next = {}
for field, b in pairs(dims) do
  if b.units ~= '' then
    local tat = math.max(s[field], now) + tonumber(b.units) * spacing(b)
    next[field] = tat
    delay = math.max(delay, math.max(0, tat - b.interval - now))
  end
end
if delay > max_wait then return {0, exact(math.ceil(delay)), 'limit'} end
for field, tat in pairs(next) do s[field] = tat end
save(KEYS[1], s, now)
return {1, exact(delay)}
`,
);

/**
 * KEYS: limiter state. ARGV: limit, intervalMs, units for requests (1..3) and tokens (4..6).
 * Charges (units > 0) or returns (units < 0); a refund never banks credit. Returns 1.
 */
export const RL_ADJUST = luaScript(
  'rl_adjust',
  1,
  `${LIMITER}
local now = now_ms()
local s = state(KEYS[1])
local dims = { r = bucket_at(1), t = bucket_at(4) }
local changed = false
for field, b in pairs(dims) do
  local units = tonumber(b.units) or 0
  if units ~= 0 then
    local tat = math.max(s[field], now) + units * spacing(b)
    if units < 0 then tat = math.max(tat, now) end
    s[field] = tat
    changed = true
  end
end
if changed then save(KEYS[1], s, now) end
return 1
`,
);

/** KEYS: limiter state. ARGV: durationMs. Extends the pause, never shortens it. Returns 1. */
export const RL_COOLDOWN = luaScript(
  'rl_cooldown',
  1,
  `${LIMITER}
local now = now_ms()
local s = state(KEYS[1])
s.c = math.max(s.c, now + tonumber(ARGV[1]))
save(KEYS[1], s, now)
return 1
`,
);

/**
 * KEYS: limiter state. ARGV: limit, intervalMs, units (ignored) for requests (1..3) and tokens
 * (4..6), '' when absent. Returns {requests, tokens} whole units free (-1 for an absent dimension); read-only.
 */
export const RL_AVAILABLE = luaScript(
  'rl_available',
  1,
  `${LIMITER}
local now = now_ms()
local s = state(KEYS[1])
local function free(field, i)
  if ARGV[i] == '' then return -1 end
  if s.c > now then return 0 end
  local b = { limit = tonumber(ARGV[i]), interval = tonumber(ARGV[i + 1]) }
  local used = math.max(0, s[field] - now) / spacing(b)
  return math.max(0, math.floor(b.limit - used + 1e-9))
end
return {free('r', 1), free('t', 4)}
`,
);

/** KEYS: limiter state. Forgets usage and cooldown. */
export const RL_RESET = luaScript('rl_reset', 1, `return redis.call('DEL', KEYS[1])`);

/** Shared by the budget scripts: the current bucket, pruning, and the window's totals. */
const BUDGET = `
local BUCKET_MS = 1000
local function window(key, now, window_ms)
  local second = math.floor(now / BUCKET_MS)
  local oldest = now - window_ms
  local fields = redis.call('HGETALL', key)
  local calls, retries = 0, 0
  for i = 1, #fields, 2 do
    local kind, start = string.match(fields[i], '^(%a):(%d+)$')
    if tonumber(start) * BUCKET_MS <= oldest then
      redis.call('HDEL', key, fields[i])
    elseif kind == 'c' then
      calls = calls + tonumber(fields[i + 1])
    else
      retries = retries + tonumber(fields[i + 1])
    end
  end
  return second, calls, retries
end
local function keep(key, window_ms) redis.call('PEXPIRE', key, window_ms + BUCKET_MS) end
`;

/** KEYS: budget window. ARGV: calls, windowMs. Counts first attempts. Returns 1. */
export const RB_DEPOSIT = luaScript(
  'rb_deposit',
  1,
  `${BUDGET}
local window_ms = tonumber(ARGV[2])
local second = window(KEYS[1], now_ms(), window_ms)
redis.call('HINCRBYFLOAT', KEYS[1], 'c:' .. second, ARGV[1])
keep(KEYS[1], window_ms)
return 1
`,
);

/**
 * KEYS: budget window. ARGV: ratio, minPerSecond, windowMs. Takes one retry when the retries
 * of the window stay within ratio x calls + minPerSecond x the window's seconds. Returns 1 or 0.
 */
export const RB_WITHDRAW = luaScript(
  'rb_withdraw',
  1,
  `${BUDGET}
local window_ms = tonumber(ARGV[3])
local second, calls, retries = window(KEYS[1], now_ms(), window_ms)
local allowance = tonumber(ARGV[1]) * calls + (tonumber(ARGV[2]) * window_ms) / 1000
if retries + 1 > allowance then return 0 end
redis.call('HINCRBY', KEYS[1], 'r:' .. second, 1)
keep(KEYS[1], window_ms)
return 1
`,
);
