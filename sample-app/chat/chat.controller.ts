import { Body, Controller, HttpCode, Post, Res, UseFilters } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { ServerResponse } from 'node:http';
import { GATEWAY_CONFIG } from '../config/gateway-config.module.js';
import type { GatewayConfig } from '../config/gateway.config.js';
import { ChatRequestPipe } from './chat-request.pipe.js';
import { ChatService } from './chat.service.js';
import type { ChatAnswer, ChatRequest } from './chat.types.js';
import { ProviderErrorFilter } from './provider-error.filter.js';
import { sendTokenStream } from './sse.js';

@Controller('chat')
@UseFilters(ProviderErrorFilter)
export class ChatController {
  private readonly defaultModel: string;

  constructor(
    private readonly chat: ChatService,
    config: ConfigService,
  ) {
    this.defaultModel = config.getOrThrow<GatewayConfig>(GATEWAY_CONFIG).llm.model;
  }

  /** `{ prompt, model? }` → `{ answer, model, id, usage }`; 429/503 with Retry-After when protected. */
  @Post()
  @HttpCode(200)
  complete(@Body(ChatRequestPipe) body: ChatRequest): Promise<ChatAnswer> {
    return this.chat.complete(body.prompt, body.model ?? this.defaultModel);
  }

  /** The same body → `text/event-stream`, one event per token. */
  @Post('stream')
  async stream(
    @Body(ChatRequestPipe) body: ChatRequest,
    @Res() res: ServerResponse,
  ): Promise<void> {
    await sendTokenStream(res, this.chat.stream(body.prompt, body.model ?? this.defaultModel));
  }
}
