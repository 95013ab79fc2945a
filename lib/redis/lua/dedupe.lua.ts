import { luaScript } from './script.js';

/*
 * One dedupe namespace (a dedupe name) shares one hash tag, so its index can be kept in the same
 * atomic script as its entries. Per key (`m`, the key or its SHA-256 when long):
 *   `m:l` STRING  the claim (lease): owner token, PX leaseMs, renewed by the owner; the token
 *                 names the owner's process, whose alive key a waiter checks (process-heartbeat.ts)
 *   `m:r` STRING  the cached result envelope, PX ttlMs (only when ttlMs > 0)
 *   `m:d` STRING  `token|envelope` of a claim that ended uncached (ttlMs 0, or a failure), kept
 *                 for a short grace so waiters that missed the message still find it
 *   `idx` ZSET    key -> deadline of its claim or result: what size() counts
 * Channel per key: `d|token|envelope` (completed) or `f|token|envelope-or-empty` (failed).
 */

const INDEX = `
local function index(idx, now, deadline, member)
  redis.call('ZREMRANGEBYSCORE', idx, '-inf', now)
  redis.call('ZADD', idx, deadline, member)
  if redis.call('PTTL', idx) < deadline - now then redis.call('PEXPIRE', idx, deadline - now) end
end
`;

/**
 * KEYS: lease, result, index. ARGV: token, leaseMs, member.
 * Returns {'c', envelope} cached, {'p', pttl, holder} in progress, or {'o'} owner.
 */
export const DD_CLAIM = luaScript(
  'dd_claim',
  3,
  `${INDEX}
local res = redis.call('GET', KEYS[2])
if res then return {'c', res} end
local holder = redis.call('GET', KEYS[1])
if holder then return {'p', redis.call('PTTL', KEYS[1]), holder} end
local now = now_ms()
local lease = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', lease)
index(KEYS[3], now, now + lease, ARGV[3])
return {'o'}
`,
);

/**
 * KEYS: lease, result, done, index. ARGV: token, envelope, ttlMs, graceMs, channel, member.
 * The first result wins, and only a claim its token still holds is cached: a claim forgotten
 * (or lapsed and taken) while it ran hands its result to its own waiters, never to the cache.
 */
export const DD_COMPLETE = luaScript(
  'dd_complete',
  4,
  `${INDEX}
local now = now_ms()
local ttl = tonumber(ARGV[3])
local stored = redis.call('GET', KEYS[2])
local envelope = stored or ARGV[2]
local owned = redis.call('GET', KEYS[1]) == ARGV[1]
if owned then redis.call('DEL', KEYS[1]) end
if not stored then
  if owned and ttl > 0 then
    redis.call('SET', KEYS[2], envelope, 'PX', ttl)
    index(KEYS[4], now, now + ttl, ARGV[6])
  elseif owned then
    redis.call('SET', KEYS[3], ARGV[1] .. '|' .. envelope, 'PX', tonumber(ARGV[4]))
    redis.call('ZREM', KEYS[4], ARGV[6])
  else
    -- A late result never overwrites the record of the claim that followed (its waiters read it).
    redis.call('SET', KEYS[3], ARGV[1] .. '|' .. envelope, 'PX', tonumber(ARGV[4]), 'NX')
  end
end
redis.call('PUBLISH', ARGV[5], 'd|' .. ARGV[1] .. '|' .. envelope)
if owned then return 1 end
return 0
`,
);

/** KEYS: lease, done, index. ARGV: token, error envelope or '', graceMs, channel, member. */
export const DD_FAIL = luaScript(
  'dd_fail',
  3,
  `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[5])
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[2], ARGV[1] .. '|' .. ARGV[2], 'PX', tonumber(ARGV[3]))
end
redis.call('PUBLISH', ARGV[4], 'f|' .. ARGV[1] .. '|' .. ARGV[2])
return 1
`,
);

/** KEYS: lease, index. ARGV: token, leaseMs, member. A lapsed claim is never re-created. */
export const DD_RENEW = luaScript(
  'dd_renew',
  2,
  `${INDEX}
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local now = now_ms()
local lease = tonumber(ARGV[2])
redis.call('PEXPIRE', KEYS[1], lease)
index(KEYS[2], now, now + lease, ARGV[3])
return 1
`,
);

/** KEYS: lease, result, done, index. ARGV: channel, member. */
export const DD_FORGET = luaScript(
  'dd_forget',
  4,
  `
local holder = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('ZREM', KEYS[4], ARGV[2])
if holder then redis.call('PUBLISH', ARGV[1], 'f|' .. holder .. '|') end
return 1
`,
);

/**
 * What a waiter on claim `token` finds. KEYS: lease, result, done. ARGV: token.
 * Returns {'c', envelope} cached, {'d', kind-prefixed envelope} ended, {'p', pttl} still held,
 * or {'x'} ended without a result for this waiter.
 */
export const DD_PEEK = luaScript(
  'dd_peek',
  3,
  `
local res = redis.call('GET', KEYS[2])
if res then return {'c', res} end
local prefix = ARGV[1] .. '|'
local done = redis.call('GET', KEYS[3])
if done and string.sub(done, 1, #prefix) == prefix then return {'d', string.sub(done, #prefix + 1)} end
if redis.call('GET', KEYS[1]) == ARGV[1] then return {'p', redis.call('PTTL', KEYS[1])} end
return {'x'}
`,
);

/** Live entries of a namespace. KEYS: index. */
export const DD_SIZE = luaScript(
  'dd_size',
  1,
  `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms())
return redis.call('ZCARD', KEYS[1])
`,
);

/**
 * 1 while a claim owner's process heartbeats (see process-heartbeat.ts), else 0. KEYS: its alive
 * key, in its own slot: a script reading the claim could not read it on Cluster.
 */
export const DD_OWNER_ALIVE = luaScript(
  'dd_owner_alive',
  1,
  `
return redis.call('EXISTS', KEYS[1])
`,
);
