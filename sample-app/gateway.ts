import 'reflect-metadata';
import type { INestApplication, LogLevel } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { NestFactory } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import type { OrchestratorStores } from '../lib/index.js';
import { AppModule } from './app.module.js';
import { GATEWAY_CONFIG } from './config/gateway-config.module.js';
import type { GatewayConfig } from './config/gateway.config.js';
import {
  fakeLlmOptionsFromEnv,
  startFakeLlm,
  type FakeLlm,
  type FakeLlmOptions,
} from './fake-llm/index.js';

export interface GatewayOptions {
  /** Environment variables merged over `process.env` (which is not changed); see `ENV_VARS`. */
  env?: Record<string, string | undefined>;
  /** Port on 127.0.0.1; 0 (the default) picks a free one. */
  port?: number;
  /**
   * The fake LLM provider to start (options merged over the `FAKE_LLM_*` variables), or `false`
   * for none. Without `LLM_BASE_URL`, a fake is started by default and the gateway points at it.
   */
  fake?: FakeLlmOptions | false;
  /**
   * Stores instead of the in-memory ones. Without them, `REDIS_URL` selects the Redis stores
   * (keys under `REDIS_KEY_PREFIX`, default `gateway:`), shared by every gateway on that Redis.
   */
  stores?: Partial<OrchestratorStores>;
  /** Nest's log levels; `false` (the default) for silence. */
  logger?: false | LogLevel[];
}

export interface Gateway {
  readonly app: INestApplication;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** The fake provider this gateway started, if any. */
  readonly fake: FakeLlm | undefined;
  readonly config: GatewayConfig;
  /** Which stores back the policies: in-memory, Redis (`REDIS_URL`) or given in `options`. */
  readonly stores: 'memory' | 'redis' | 'custom';
  /** Closes the app (open streams included), then the fake provider and the Redis client. */
  close(): Promise<void>;
}

const HOST = '127.0.0.1';

/**
 * Starts the sample gateway (and, unless told otherwise, the fake LLM provider it calls) on
 * loopback. Used by `npm start`, `npm run demo` and the end-to-end tests.
 */
export async function createGateway(options: GatewayOptions = {}): Promise<Gateway> {
  const env: Record<string, string | undefined> = { ...options.env };
  const merged = { ...process.env, ...env };
  const cleanups: Array<() => Promise<unknown>> = [];
  const cleanup = async () => {
    for (const step of cleanups.reverse()) await step().catch(() => undefined);
  };
  try {
    let fake: FakeLlm | undefined;
    if (options.fake !== false && !merged.LLM_BASE_URL?.trim()) {
      fake = await startFakeLlm({ ...fakeLlmOptionsFromEnv(merged), ...options.fake });
      const started = fake;
      cleanups.push(() => started.close());
      env.LLM_BASE_URL = fake.url;
    }
    let stores = options.stores;
    let storesKind: Gateway['stores'] = stores ? 'custom' : 'memory';
    const redisUrl = merged.REDIS_URL?.trim();
    if (!stores && redisUrl) {
      // Loaded only when asked for, so that the in-memory default never touches ioredis.
      const { redisStores } = await import('../lib/redis/index.js');
      const redis = redisStores(redisUrl, {
        keyPrefix: merged.REDIS_KEY_PREFIX?.trim() || 'gateway:',
      });
      cleanups.push(() => redis.close());
      stores = redis;
      storesKind = 'redis';
    }
    const app = await NestFactory.create(AppModule.register({ env, stores }), {
      logger: options.logger ?? false,
      // A bad option rejects this promise instead of exiting the process.
      abortOnError: false,
      // Ctrl-C must not wait for keep-alive sockets or open token streams.
      forceCloseConnections: true,
    });
    cleanups.push(() => app.close());
    await app.listen(options.port ?? 0, HOST);
    const { port } = app.getHttpServer().address() as AddressInfo;
    const config = app.get(ConfigService).getOrThrow<GatewayConfig>(GATEWAY_CONFIG);
    let closed: Promise<void> | undefined;
    return {
      app,
      url: `http://${HOST}:${port}`,
      fake,
      config,
      stores: storesKind,
      close: () => (closed ??= cleanup()),
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
