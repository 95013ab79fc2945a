import { BadRequestException, Injectable, type PipeTransform } from '@nestjs/common';
import type { ChatRequest } from './chat.types.js';

export const MAX_PROMPT_LENGTH = 8_000;
const MAX_MODEL_LENGTH = 100;
const KEYS = new Set(['prompt', 'model']);

/**
 * Validates a chat body: `{ prompt: non-empty string, model?: non-empty string }` and nothing
 * else. A bad body is answered with 400 and every problem found, before any policy runs.
 */
@Injectable()
export class ChatRequestPipe implements PipeTransform<unknown, ChatRequest> {
  transform(body: unknown): ChatRequest {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new BadRequestException(['body should be a JSON object { prompt, model? }']);
    }
    const { prompt, model } = body as Record<string, unknown>;
    const problems: string[] = [];
    if (typeof prompt !== 'string' || prompt.trim() === '') {
      problems.push('prompt should be a non-empty string');
    } else if (prompt.length > MAX_PROMPT_LENGTH) {
      problems.push(`prompt should be at most ${MAX_PROMPT_LENGTH} characters`);
    }
    if (model !== undefined && (typeof model !== 'string' || model.trim() === '')) {
      problems.push('model should be a non-empty string when given');
    } else if (typeof model === 'string' && model.length > MAX_MODEL_LENGTH) {
      problems.push(`model should be at most ${MAX_MODEL_LENGTH} characters`);
    }
    for (const key of Object.keys(body)) {
      if (!KEYS.has(key)) problems.push(`${key} is not a known field (use prompt, model)`);
    }
    if (problems.length > 0) throw new BadRequestException(problems);
    return model === undefined
      ? { prompt: prompt as string }
      : { prompt: prompt as string, model: model as string };
  }
}
