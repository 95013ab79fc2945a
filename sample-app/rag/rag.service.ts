import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Orchestrator, type Pipeline, type StageTiming } from '../../lib/index.js';
import { ChatService } from '../chat/chat.service.js';
import { GATEWAY_CONFIG } from '../config/gateway-config.module.js';
import { RETRIEVAL_POLICY, type GatewayConfig } from '../config/gateway.config.js';
import { searchNotes, type Note } from './knowledge-base.js';

export interface RagQuery {
  question: string;
  model: string;
}

export interface RagAnswer {
  answer: string;
  model: string;
  sources: string[];
  stageTimings: StageTiming[];
}

/**
 * `POST /chat/rag`: a Pipeline of four stages (retrieve, assemble, infer, post-process). The
 * retrieval stage carries its own retry policy; the infer stage calls `ChatService.complete`,
 * so the provider call keeps the gateway's cap, dedupe, circuit and retries.
 */
@Injectable()
export class RagService {
  private readonly pipeline: Pipeline<RagQuery, Omit<RagAnswer, 'stageTimings'>>;
  private readonly timeoutMs: number;

  constructor(orchestrator: Orchestrator, chat: ChatService, config: ConfigService) {
    this.timeoutMs = config.getOrThrow<GatewayConfig>(GATEWAY_CONFIG).pipelineTimeoutMs;
    this.pipeline = orchestrator
      .pipeline<RagQuery>('rag')
      .addStage('retrieve', (query) => ({ ...query, notes: searchNotes(query.question) }), {
        policy: RETRIEVAL_POLICY,
      })
      .addStage('assemble', ({ question, model, notes }) => ({
        model,
        notes,
        prompt: assemblePrompt(question, notes),
      }))
      .addStage('infer', async ({ model, notes, prompt }) => ({
        notes,
        completion: await chat.complete(prompt, model),
      }))
      .addStage('post-process', ({ notes, completion }) => ({
        answer: completion.answer.replace(/\s+/g, ' ').trim(),
        model: completion.model,
        sources: notes.map((note) => note.id),
      }));
  }

  async answer(query: RagQuery): Promise<RagAnswer> {
    const { output, stageTimings } = await this.pipeline.executeTimed(query, {
      timeoutMs: this.timeoutMs,
    });
    return { ...output, stageTimings };
  }
}

function assemblePrompt(question: string, notes: Note[]): string {
  const context = notes.length > 0 ? notes.map((n) => `- ${n.text}`).join('\n') : '- (no notes)';
  return `Answer from these notes:\n${context}\nQuestion: ${question}`;
}
