import 'reflect-metadata';
import { Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Redis } from 'ioredis';
import {
  Backpressure,
  CircuitBreaker,
  Dedupe,
  isCircuitOpenError,
  Orchestrator,
  OrchestratorModule,
} from '../../lib/index.js';
import { redisStores, type RedisStoreEvent } from '../../lib/redis/index.js';
import type { GuardedCall, PathId, PathSpec, WindowPathId } from './paths.js';
import { isWindowPath, RedisWindowService, windowCall, WINDOW_PATHS } from './windows.js';

/** Every process of the bench uses this prefix, so they share one fleet state. */
export const KEY_PREFIX = 'bench:';
export const OPEN_CIRCUIT = 'rb.open';
/** Far above the callers of every process together: the cap never refuses, no caller waits. */
export const CAPACITY = 100_000;

export const PATHS: readonly PathSpec[] = [
  { id: 'closed', label: '@CircuitBreaker, closed: success', expect: 'value', load: true },
  { id: 'open', label: '@CircuitBreaker, open: rejection', expect: 'open', load: false },
  { id: 'owner', label: '@Dedupe, owner (new key, ttlMs 0)', expect: 'value', load: true },
  { id: 'hit', label: '@Dedupe, cache hit (ttlMs 10 min)', expect: 'value', load: true },
  { id: 'cap', label: '@Backpressure, acquire + release', expect: 'value', load: true },
  { id: 'floor', label: 'floor: bare ioredis EVALSHA `return 42`', expect: 'value', load: true },
  ...WINDOW_PATHS,
];

/** The floor's script: one round trip, no library, on the same client. */
const FLOOR_LUA = 'return 42';

const byKey = (key: string): string => key;

/** The protected operation `async () => 42` under each Redis-backed primitive. */
@Injectable()
export class RedisBenchService {
  @CircuitBreaker({ name: 'rb.closed' })
  async closed(): Promise<number> {
    return 42;
  }

  @CircuitBreaker({ name: OPEN_CIRCUIT, recoveryWindowMs: 3_600_000 })
  async open(): Promise<number> {
    return 42;
  }

  @Dedupe({ name: 'rb.owner', key: byKey })
  async owner(_key: string): Promise<number> {
    return 42;
  }

  @Dedupe({ name: 'rb.hit', key: byKey, ttlMs: 600_000 })
  async hit(_key: string): Promise<number> {
    return 42;
  }

  @Backpressure({ name: 'rb.cap', capacity: CAPACITY })
  async cap(): Promise<number> {
    return 42;
  }
}

export interface RedisBenchApp {
  readonly service: RedisBenchService;
  /** Degraded-mode switches and Redis errors seen so far: any of them voids a measurement. */
  readonly incidents: () => number;
  /** The calls of one path; `worker` keeps the dedupe keys of processes apart. */
  call(path: PathId, worker: number): GuardedCall;
  close(): Promise<void>;
}

/**
 * A Nest application context whose decorators use `redisStores()` on a client configured as the
 * README asks (commandTimeout, no offline queue, one retry).
 */
export async function createRedisBenchApp(port: number): Promise<RedisBenchApp> {
  const client = new Redis({
    host: '127.0.0.1',
    port,
    commandTimeout: 250,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
  });
  client.on('error', () => undefined);
  let incidents = 0;
  const onEvent = (event: RedisStoreEvent) => {
    if (event.type === 'redis.degraded' || event.type === 'redis.error') incidents++;
  };
  const stores = redisStores(client, { keyPrefix: KEY_PREFIX, onEvent });

  @Module({
    imports: [OrchestratorModule.forRoot({ stores })],
    providers: [RedisBenchService, RedisWindowService],
  })
  class RedisBenchModule {}

  let context: INestApplicationContext | undefined;
  try {
    context = await NestFactory.createApplicationContext(RedisBenchModule, { logger: false });
    // Every process forces the circuit open: its store then caches the open state.
    await context.get(Orchestrator).circuit(OPEN_CIRCUIT).open();
  } catch (error) {
    await context?.close();
    client.disconnect();
    throw error;
  }
  const app = context;
  const service = app.get(RedisBenchService);
  const windows = app.get(RedisWindowService);
  const inMemory = new RedisWindowService();
  const sha = (await client.script('LOAD', FLOOR_LUA)) as string;
  const floor: GuardedCall = () => client.evalsha(sha, 0);
  return {
    service,
    incidents: () => incidents,
    call: (path, worker) => {
      if (isWindowPath(path)) return windowCall(path, windows, inMemory);
      return path === 'floor' ? floor : callOf(service, path, worker);
    },
    async close() {
      await app.close();
      await client.quit().catch(() => client.disconnect());
    },
  };
}

let ownerKeys = 0;

function callOf(
  service: RedisBenchService,
  path: Exclude<PathId, 'floor' | WindowPathId>,
  worker: number,
): GuardedCall {
  switch (path) {
    case 'closed':
      return () => service.closed();
    case 'open':
      return () => service.open();
    // A fresh key per call: every call owns its key (claim, then complete).
    case 'owner':
      return () => service.owner(`o${worker}:${++ownerKeys}`);
    // One primed key per caller: concurrent callers of one process never join one flight.
    case 'hit':
      return (caller) => service.hit(`h${worker}:${caller}`);
    case 'cap':
      return () => service.cap();
  }
}

/** Whether one call ended as its path expects. */
export function expected(spec: PathSpec, outcome: { value?: unknown; error?: unknown }): boolean {
  return spec.expect === 'value' ? outcome.value === 42 : isCircuitOpenError(outcome.error);
}
