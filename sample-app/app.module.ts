import { Module, type DynamicModule } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { APP_FILTER } from '@nestjs/core';
import {
  OrchestratorExceptionFilter,
  OrchestratorModule,
  type OrchestratorStores,
} from '../lib/index.js';
import { ChatModule } from './chat/chat.module.js';
import { GATEWAY_CONFIG, gatewayConfigModule } from './config/gateway-config.module.js';
import { gatewayPolicies, type GatewayConfig } from './config/gateway.config.js';
import { RagModule } from './rag/rag.module.js';
import { StatusModule } from './status/status.module.js';

export interface AppModuleOptions {
  /** Environment variables merged over `process.env` (tests); see `ENV_VARS`. */
  env?: Record<string, string | undefined>;
  /** Stores to use instead of the in-memory defaults (e.g. the Redis stores). */
  stores?: Partial<OrchestratorStores>;
}

/**
 * The gateway: `@nestjs/config` reads the environment, `OrchestratorModule.forRootAsync` turns
 * it into named policies, and `OrchestratorExceptionFilter` answers an open circuit with 503
 * and a shed call with 429, both with `Retry-After`.
 */
@Module({})
export class AppModule {
  static register(options: AppModuleOptions = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        gatewayConfigModule(options.env),
        OrchestratorModule.forRootAsync({
          inject: [ConfigService],
          useFactory: (config: ConfigService) => ({
            policies: gatewayPolicies(config.getOrThrow<GatewayConfig>(GATEWAY_CONFIG)),
            stores: options.stores,
          }),
        }),
        ChatModule,
        RagModule,
        StatusModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: OrchestratorExceptionFilter }],
    };
  }
}
