import { Injectable } from '@nestjs/common';
import { CircuitBreaker } from '../../lib/index.js';
import { COUNT_WINDOW, TIME_WINDOW } from '../windows.js';
import type { GuardedCall, PathSpec, WindowPathId } from './paths.js';

/**
 * Issue 17 on Redis: the closed path of a breaker that opens on a failure rate costs no round
 * trip (admission from the closed state last learned, outcomes batched and merged once per
 * `syncIntervalMs`), so one process should call it nearly as fast as the same breaker in memory.
 * The in-memory twins are the same class made with `new` (no Nest): private in-memory stores.
 */

export const WINDOW_PATHS: readonly (PathSpec & { id: WindowPathId })[] = [
  {
    id: 'window-count',
    label: '@CircuitBreaker, count window, closed',
    expect: 'value',
    load: true,
  },
  { id: 'window-time', label: '@CircuitBreaker, time window, closed', expect: 'value', load: true },
  {
    id: 'memory-count',
    label: 'in memory: the same count window',
    expect: 'value',
    load: true,
  },
  { id: 'memory-time', label: 'in memory: the same time window', expect: 'value', load: true },
];

/** Each Redis path and the in-memory path it is judged against. */
export const WINDOW_PAIRS: readonly [redis: WindowPathId, memory: WindowPathId][] = [
  ['window-count', 'memory-count'],
  ['window-time', 'memory-time'],
];

/** The default sync interval of a window breaker: round trips are bounded by time, not calls. */
export const SYNC_INTERVAL_MS = 100;

@Injectable()
export class RedisWindowService {
  @CircuitBreaker({ name: 'rb.window.count', ...COUNT_WINDOW })
  async countWindow(): Promise<number> {
    return 42;
  }

  @CircuitBreaker({ name: 'rb.window.time', ...TIME_WINDOW })
  async timeWindow(): Promise<number> {
    return 42;
  }
}

/** The calls of a window path: `provider` is Nest's (Redis stores), `standalone` made by `new`. */
export function windowCall(
  path: WindowPathId,
  provider: RedisWindowService,
  standalone: RedisWindowService,
): GuardedCall {
  switch (path) {
    case 'window-count':
      return () => provider.countWindow();
    case 'window-time':
      return () => provider.timeWindow();
    case 'memory-count':
      return () => standalone.countWindow();
    case 'memory-time':
      return () => standalone.timeWindow();
  }
}

export function isWindowPath(path: string): path is WindowPathId {
  return WINDOW_PATHS.some((spec) => spec.id === path);
}
