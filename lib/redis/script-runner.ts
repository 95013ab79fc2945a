import { bounded, noop } from './bounded.js';
import type { LuaScript } from './lua/script.js';
import type { RedisClient } from './redis-client.js';

export type ScriptArg = string | number;

/**
 * Sends the stores' Lua scripts on one client: `defineCommand` once per script (ioredis then
 * sends EVALSHA, and EVAL after a NOSCRIPT), the first connection waited for, every round trip
 * bounded by `operationTimeoutMs`. Knows nothing of degraded mode: the backend decides whether
 * a call may go out.
 */
export class ScriptRunner {
  private readonly defined = new Set<string>();
  private readiness?: Promise<void>;
  private wasReady = false;

  constructor(
    private readonly client: RedisClient,
    private readonly operationTimeoutMs: number,
  ) {}

  run(script: LuaScript, keys: readonly string[], args: readonly ScriptArg[]): Promise<unknown> {
    const attempt = { abandoned: false };
    const sent = this.send(script, keys, args, attempt);
    return bounded(sent, this.operationTimeoutMs, script.command, () => {
      attempt.abandoned = true;
    });
  }

  private async send(
    script: LuaScript,
    keys: readonly string[],
    args: readonly ScriptArg[],
    attempt: { abandoned: boolean },
  ): Promise<unknown> {
    // Only the first connection is waited for; a reconnect fails fast (no offline queue).
    if (!this.wasReady && this.client.status !== 'ready') await this.ready();
    // The caller gave up while we waited: sending now would apply a decision nobody awaits.
    if (attempt.abandoned) throw new Error('abandoned before it was sent');
    this.wasReady = true;
    this.define(script);
    const command = (
      this.client as unknown as Record<string, (...a: ScriptArg[]) => Promise<unknown>>
    )[script.command];
    return command.call(this.client, ...keys, ...args);
  }

  /** defineCommand once per client: ioredis then sends EVALSHA, and EVAL after a NOSCRIPT. */
  private define(script: LuaScript): void {
    if (this.defined.has(script.command)) return;
    const client = this.client as unknown as Record<string, unknown>;
    if (typeof client[script.command] !== 'function') {
      this.client.defineCommand(script.command, {
        numberOfKeys: script.numberOfKeys,
        lua: script.lua,
      });
    }
    this.defined.add(script.command);
  }

  /** Waits for the connection (start-up); shared by every caller meanwhile. */
  private ready(): Promise<void> {
    this.readiness ??= new Promise<void>((resolve) => {
      if (this.client.status === 'wait') this.client.connect().catch(noop);
      this.client.once('ready', resolve);
    }).finally(() => (this.readiness = undefined));
    return this.readiness;
  }
}
