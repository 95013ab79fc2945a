import { setTimeout as delay } from 'node:timers/promises';
import type { Redis } from 'ioredis';

/** `INFO commandstats`: calls per command (subcommands as `config|get`). */
export type CommandCounts = ReadonlyMap<string, number>;

/**
 * Commands a client sends over the wire. The stores send only scripts, plus SUBSCRIBE and
 * UNSUBSCRIBE (once per channel and process) and CONFIG GET at start-up; every other command in
 * commandstats (TIME, HMGET, ZADD, PUBLISH...) ran inside a script, in the same round trip.
 */
const SENT =
  /^(evalsha|eval|evalsha_ro|eval_ro|fcall|fcall_ro|subscribe|unsubscribe|psubscribe|punsubscribe|ping|quit|select|hello|config\|.*|client\|.*|script\|.*)$/;
/** The meter's own command. */
const METER = 'info';

export async function commandCounts(meter: Redis): Promise<CommandCounts> {
  const text = await meter.info('commandstats');
  const counts = new Map<string, number>();
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    counts.set(match[1], Number(match[2]));
  }
  return counts;
}

export interface Delta {
  /** Round trips: commands sent by clients. */
  readonly sent: number;
  /** Commands run inside those scripts. */
  readonly inside: number;
  /** Per command, sent ones first, most frequent first. */
  readonly byCommand: readonly { command: string; calls: number; sent: boolean }[];
}

export function delta(before: CommandCounts, after: CommandCounts): Delta {
  const byCommand = [...after]
    .filter(([command]) => command !== METER)
    .map(([command, calls]) => ({
      command,
      calls: calls - (before.get(command) ?? 0),
      sent: SENT.test(command),
    }))
    .filter((entry) => entry.calls > 0)
    .sort((a, b) => Number(b.sent) - Number(a.sent) || b.calls - a.calls);
  const sum = (sent: boolean) =>
    byCommand.filter((e) => e.sent === sent).reduce((total, e) => total + e.calls, 0);
  return { sent: sum(true), inside: sum(false), byCommand };
}

/**
 * Waits until no client command arrives for `quietMs`: a breaker's outcome and a released slot
 * are recorded after the guarded call has returned, so they land after the caller moved on.
 */
export async function settledCounts(
  meter: Redis,
  quietMs = 30,
  maxMs = 3000,
): Promise<CommandCounts> {
  const deadline = Date.now() + maxMs;
  let last = await commandCounts(meter);
  for (;;) {
    await delay(quietMs);
    const next = await commandCounts(meter);
    if (delta(last, next).sent === 0 || Date.now() > deadline) return next;
    last = next;
  }
}

/** CPU seconds redis-server has used (user + system, every thread), from `INFO cpu`. */
export async function redisCpuSeconds(meter: Redis): Promise<number> {
  const text = await meter.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(text)?.[1]);
  return field('used_cpu_user') + field('used_cpu_sys');
}

/** redis-server's CPU while `work` ran: seconds, and the share of one core. */
export async function withRedisCpu<T>(
  meter: Redis,
  work: () => Promise<T>,
): Promise<{ result: T; cpuSeconds: number; cpuShare: number }> {
  const cpuBefore = await redisCpuSeconds(meter);
  const start = performance.now();
  const result = await work();
  const seconds = (performance.now() - start) / 1000;
  const cpuSeconds = (await redisCpuSeconds(meter)) - cpuBefore;
  return { result, cpuSeconds, cpuShare: cpuSeconds / seconds };
}
