import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import OpenAI from 'openai';
import { GATEWAY_CONFIG } from '../config/gateway-config.module.js';
import type { GatewayConfig } from '../config/gateway.config.js';
import { ChatController } from './chat.controller.js';
import { ChatService } from './chat.service.js';
import { ProviderMetrics } from './provider-metrics.js';

@Module({
  controllers: [ChatController],
  providers: [
    {
      // The official SDK with its own retries off: the orchestrator's policies decide.
      provide: OpenAI,
      inject: [ConfigService],
      useFactory: (config: ConfigService) => {
        const { llm } = config.getOrThrow<GatewayConfig>(GATEWAY_CONFIG);
        return new OpenAI({
          baseURL: llm.baseURL,
          apiKey: llm.apiKey,
          maxRetries: 0,
          timeout: llm.timeoutMs,
        });
      },
    },
    ProviderMetrics,
    ChatService,
  ],
  exports: [ChatService, ProviderMetrics],
})
export class ChatModule {}
