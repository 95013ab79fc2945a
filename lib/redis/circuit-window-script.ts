import type { CircuitConfig, CircuitSnapshot } from '../circuit-breaker/circuit-breaker.store.js';
import { CB_WINDOW_SYNC } from './lua/circuit-breaker.lua.js';
import type { RedisBackend } from './redis-backend.js';
import type { WindowBatch } from './circuit-window-sync.js';

/** CB_WINDOW_SYNC's reply: {code, epoch, now, openUntil, state, reason, calls, failures, slow}. */
export type WindowSyncReply = [number, number, number, number, string, string?, ...number[]];

/** What the script needs of its store. */
export interface WindowSyncHooks {
  ttl(config: CircuitConfig): number;
  /** The batch opened the circuit (reply code 2). */
  opened(batch: WindowBatch, reply: WindowSyncReply): void;
  learn(circuit: string, epoch: number, closed: boolean): void;
  /** Redis has no state for the circuit (lost): the next admission must ask. */
  forget(circuit: string): void;
}

const DEFAULT_WINDOW_SIZE = 20;
const DEFAULT_MINIMUM_CALLS = 10;

/** The window's kind and size, the first two arguments of both window scripts. */
export function windowArgs(config: CircuitConfig): [string, number] {
  return config.windowMs !== undefined
    ? ['t', config.windowMs]
    : ['n', config.windowSize ?? DEFAULT_WINDOW_SIZE];
}

/** Adds the window's figures of CB_WINDOW_SNAPSHOT's reply (its last three values). */
export function withWindowStats(snapshot: CircuitSnapshot, reply: number[]): CircuitSnapshot {
  const [calls = 0, failures = 0, slow = 0] = reply.slice(7);
  const rate = (count: number) => (calls === 0 ? 0 : count / calls);
  return { ...snapshot, windowCalls: calls, failureRate: rate(failures), slowCallRate: rate(slow) };
}

/** Runs CB_WINDOW_SYNC for a batch and hands what its reply says to the store. */
export class WindowSyncScript {
  constructor(
    private readonly backend: RedisBackend,
    private readonly channel: string,
    private readonly hooks: WindowSyncHooks,
  ) {}

  keys(circuit: string): string[] {
    const key = (part: string) => this.backend.key('cb', circuit, part);
    return [key('st'), key('probe'), key('win')];
  }

  async send(batch: WindowBatch): Promise<void> {
    const { circuit, config, epoch, outcomes } = batch;
    const args = [
      ...windowArgs(config),
      epoch,
      config.minimumCalls ?? DEFAULT_MINIMUM_CALLS,
      config.failureRateThreshold ?? -1,
      config.slowCallRateThreshold ?? -1,
      Math.ceil(config.recoveryWindowMs),
      this.hooks.ttl(config),
      this.channel,
      circuit,
      outcomes,
    ];
    const reply = (await this.backend.run(
      CB_WINDOW_SYNC,
      this.keys(circuit),
      args,
    )) as WindowSyncReply;
    const [code, newEpoch, , , state] = reply;
    if (code === 2) return this.hooks.opened(batch, reply);
    if (state === '') return this.hooks.forget(circuit);
    this.hooks.learn(circuit, newEpoch, state === 'c');
  }
}
