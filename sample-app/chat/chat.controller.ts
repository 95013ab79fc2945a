import { Body, Controller, HttpCode, Post, Res, UseFilters } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { ServerResponse } from 'node:http';
import { GATEWAY_CONFIG } from '../config/gateway-config.module.js';
import type { GatewayConfig } from '../config/gateway.config.js';
import { ChatRequestPipe } from './chat-request.pipe.js';
import { ChatService } from './chat.service.js';
import type { ChatAnswer, ChatRequest } from './chat.types.js';
import { clientSignal } from './client-signal.js';
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

  /**
   * `{ prompt, model? }` → `{ answer, model, id, usage, fallbackReason? }`; 429/503/504 with
   * Retry-After when protected. A client that disconnects cancels the provider request.
   */
  @Post()
  @HttpCode(200)
  complete(
    @Body(ChatRequestPipe) body: ChatRequest,
    @Res({ passthrough: true }) res: ServerResponse,
  ): Promise<ChatAnswer> {
    return this.chat.complete(body.prompt, body.model ?? this.defaultModel, clientSignal(res));
  }

  /** The same body → `text/event-stream`, one event per token, then `event: done`. */
  @Post('stream')
  async stream(
    @Body(ChatRequestPipe) body: ChatRequest,
    @Res() res: ServerResponse,
  ): Promise<void> {
    const delivered: string[] = [];
    const model = body.model ?? this.defaultModel;
    const tokens = this.chat.stream(body.prompt, model, clientSignal(res), delivered);
    await sendTokenStream(res, tokens, delivered);
  }
}
