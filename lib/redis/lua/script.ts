import { createHash } from 'node:crypto';

/**
 * One Lua script: every key it touches is in KEYS (Cluster and proxies require it).
 *
 * @publicApi
 */
export interface LuaScript {
  /** The ioredis command name, unique per script text so two versions never collide. */
  readonly command: string;
  readonly numberOfKeys: number;
  readonly lua: string;
}

/**
 * Server time in ms. `TIME` inside the script is the only clock the stores trust: client clocks
 * may be skewed by minutes, the server's is one clock for the whole fleet.
 */
const NOW_MS = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

export function luaScript(name: string, numberOfKeys: number, body: string): LuaScript {
  const lua = `${NOW_MS}\n${body.trim()}\n`;
  const digest = createHash('sha1').update(lua).digest('hex').slice(0, 10);
  return { command: `orchestrator_${name}_${digest}`, numberOfKeys, lua };
}
