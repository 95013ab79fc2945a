import { ConfigModule, registerAs } from '@nestjs/config';
import { readGatewayConfig, type GatewayConfig } from './gateway.config.js';

/** The key under which `ConfigService` holds the gateway's settings. */
export const GATEWAY_CONFIG = 'gateway';

/**
 * `@nestjs/config`, loading the gateway's settings from environment variables. `overrides`
 * (tests, `createGateway({ env })`) are merged over `process.env` without changing it.
 */
export function gatewayConfigModule(overrides: Record<string, string | undefined> = {}) {
  const load = registerAs(GATEWAY_CONFIG, (): GatewayConfig =>
    readGatewayConfig({ ...process.env, ...overrides }),
  );
  return ConfigModule.forRoot({ isGlobal: true, ignoreEnvFile: true, load: [load] });
}
