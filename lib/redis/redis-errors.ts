import { withoutStack } from '../core/orchestrator.error.js';
import type { LuaScript } from './lua/script.js';
import { RedisUnavailableError } from './redis-unavailable.error.js';

/**
 * What an error from Redis says about Redis:
 * - `outage`: no answer, a timeout, a dropped connection, LOADING, OOM...: it may pass by itself,
 *   and counts towards degraded mode; the command may have run (its decision is undone).
 * - `data`: an answer about the data a script touched (WRONGTYPE): Redis is healthy.
 * - `config`: Redis refused the command for a reason that will not pass until an operator acts
 *   (a permission, a disabled command, a replica, a failing disk). The command did not run.
 */
export type RedisErrorKind = 'outage' | 'data' | 'config';

/** A refusal that needs an operator: its reply code and what to fix. */
export interface ConfigProblem {
  readonly code: string;
  readonly fix: string;
}

const DATA_ERROR = /^WRONGTYPE\b/;

const CONFIG_PROBLEMS: ReadonlyArray<{ pattern: RegExp; code: string; fix: string }> = [
  {
    pattern: /^NOPERM\b/,
    code: 'NOPERM',
    fix: 'the Redis user lacks a permission the stores need. Grant it the keys and channels under the key prefix and the commands the scripts run, e.g. ACL SETUSER <user> ~<keyPrefix>* &<keyPrefix>* +@read +@write +@scripting +@pubsub +@connection +time +info (see docs/redis-operations.md)',
  },
  {
    pattern: /^NOSCRIPT\b/,
    code: 'NOSCRIPT',
    fix: "the server will not load the stores' Lua scripts (EVAL is refused or renamed). Allow EVAL and EVALSHA for this user",
  },
  {
    pattern: /^ERR unknown command\b/i,
    code: 'unknown command',
    fix: 'a command the stores need (EVAL, EVALSHA, PUBLISH, SUBSCRIBE...) is disabled or renamed on this server or proxy. Enable it, or use a Redis that runs Lua scripts',
  },
  {
    pattern: /^(NOAUTH|WRONGPASS)\b/,
    code: 'NOAUTH',
    fix: 'Redis requires authentication. Give the connection the right username and password',
  },
  {
    pattern: /^READONLY\b/,
    code: 'READONLY',
    fix: 'the connection points at a read-only replica. Connect to the master (or through Sentinel or Cluster)',
  },
  {
    pattern: /^MISCONF\b/,
    code: 'MISCONF',
    fix: 'Redis refuses writes because it cannot persist its data (stop-writes-on-bgsave-error). Fix its disk or persistence settings',
  },
  {
    pattern: /^CROSSSLOT\b/,
    code: 'CROSSSLOT',
    fix: "something between the stores and Redis breaks their hash tags (a proxy, or a client keyPrefix with braces). Connect the stores' client directly, without such a keyPrefix",
  },
];

function replyText(error: unknown): string | undefined {
  return error instanceof Error && error.name === 'ReplyError' ? error.message : undefined;
}

/** The operator problem behind `error`, if it is a refusal that needs one. */
export function configProblem(error: unknown): ConfigProblem | undefined {
  const text = replyText(error);
  if (text === undefined) return undefined;
  const found = CONFIG_PROBLEMS.find((problem) => problem.pattern.test(text));
  return found === undefined ? undefined : { code: found.code, fix: found.fix };
}

export function errorKind(error: unknown): RedisErrorKind {
  if (configProblem(error) !== undefined) return 'config';
  const text = replyText(error);
  return text !== undefined && DATA_ERROR.test(text) ? 'data' : 'outage';
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** What a store's caller gets when `script` could not run: `cause` says why. */
export function unavailable(script: LuaScript, cause: unknown): RedisUnavailableError {
  const reason = typeof cause === 'string' ? new Error(cause) : cause;
  return withoutStack(() => new RedisUnavailableError(script.command, { cause: reason }));
}
