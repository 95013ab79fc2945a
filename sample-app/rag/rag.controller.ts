import {
  BadGatewayException,
  Body,
  Controller,
  GatewayTimeoutException,
  HttpCode,
  Post,
  UseFilters,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { APIError } from 'openai';
import {
  isOrchestratorError,
  isPipelineAbortedError,
  isPipelineStageError,
} from '../../lib/index.js';
import { ChatRequestPipe } from '../chat/chat-request.pipe.js';
import { ProviderErrorFilter } from '../chat/provider-error.filter.js';
import type { ChatRequest } from '../chat/chat.types.js';
import { GATEWAY_CONFIG } from '../config/gateway-config.module.js';
import type { GatewayConfig } from '../config/gateway.config.js';
import { RagService, type RagAnswer } from './rag.service.js';

@Controller('chat')
@UseFilters(ProviderErrorFilter)
export class RagController {
  private readonly defaultModel: string;

  constructor(
    private readonly rag: RagService,
    config: ConfigService,
  ) {
    this.defaultModel = config.getOrThrow<GatewayConfig>(GATEWAY_CONFIG).llm.model;
  }

  /**
   * `{ prompt, model? }` → `{ answer, model, sources, stageTimings }`. A stage refused by a
   * policy (open circuit, shed) keeps its 503/429; another stage failure is a 502, and a run
   * past `PIPELINE_TIMEOUT_MS` a 504.
   */
  @Post('rag')
  @HttpCode(200)
  async ask(@Body(ChatRequestPipe) body: ChatRequest): Promise<RagAnswer> {
    try {
      return await this.rag.answer({
        question: body.prompt,
        model: body.model ?? this.defaultModel,
      });
    } catch (error) {
      if (isPipelineStageError(error)) {
        // A policy's refusal keeps its 429/503, a provider failure its 429/502/504.
        if (isOrchestratorError(error.cause) || error.cause instanceof APIError) throw error.cause;
        throw new BadGatewayException(`pipeline stage "${error.stage}" failed`, { cause: error });
      }
      if (isPipelineAbortedError(error)) {
        throw new GatewayTimeoutException(`pipeline aborted at stage "${error.stage}"`, {
          cause: error,
        });
      }
      throw error;
    }
  }
}
