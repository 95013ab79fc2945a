export interface ChatMessage {
  role: string;
  content: unknown;
}

export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  stream: boolean;
  includeUsage: boolean;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export class InvalidRequestError extends Error {}

/** The deterministic answer the fake gives to a prompt. */
export function fakeAnswer(prompt: string): string {
  return `Echo: ${prompt}`;
}

/** Splits an answer into stream tokens; joining them gives the answer back. */
export function tokenize(answer: string): string[] {
  return answer.match(/\s*\S+/g) ?? [answer];
}

export function parseChatRequest(body: string): ChatRequest {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    throw new InvalidRequestError(
      'We could not parse the JSON body of your request. The fake LLM expects a JSON payload.',
    );
  }
  return validateChatRequest(raw);
}

function validateChatRequest(raw: unknown): ChatRequest {
  const body = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  if (typeof body.model !== 'string' || body.model === '') {
    throw new InvalidRequestError("Missing required parameter: 'model'.");
  }
  if (!Array.isArray(body.messages) || !body.messages.every(isMessage)) {
    throw new InvalidRequestError("'messages' must be an array of { role, content } objects.");
  }
  const streamOptions = body.stream_options as { include_usage?: unknown } | undefined;
  return {
    model: body.model,
    messages: body.messages,
    stream: body.stream === true,
    includeUsage: streamOptions?.include_usage === true,
  };
}

function isMessage(value: unknown): value is ChatMessage {
  return (
    typeof value === 'object' && value !== null && typeof (value as ChatMessage).role === 'string'
  );
}

export function lastUserPrompt(messages: ChatMessage[]): string {
  const last = [...messages].reverse().find((m) => m.role === 'user');
  return last ? contentText(last.content) : '';
}

/**
 * The fake's answer to a conversation: `fakeAnswer` of the last user message. When the
 * conversation ends with an assistant message that begins that answer (a partial answer to
 * continue, as a fallback model is asked to), only the rest is answered, so that the partial
 * answer and the continuation join into the whole answer.
 */
export function answerText(messages: ChatMessage[]): string {
  const full = fakeAnswer(lastUserPrompt(messages));
  const last = messages.at(-1);
  if (last?.role !== 'assistant') return full;
  const partial = contentText(last.content);
  return partial !== '' && full.startsWith(partial) ? full.slice(partial.length) : full;
}

/** Content is either a string or an array of parts like `{ type: 'text', text }`. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part: { text?: unknown }) => (typeof part?.text === 'string' ? part.text : ''))
    .join('');
}

export function usageFor(messages: ChatMessage[], tokens: string[]): Usage {
  const prompt_tokens = messages.reduce((n, m) => n + tokenize(contentText(m.content)).length, 0);
  const completion_tokens = tokens.length;
  return { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens };
}

export function completionBody(id: string, model: string, content: string, usage: Usage) {
  return {
    id,
    object: 'chat.completion',
    created: nowSeconds(),
    model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content, refusal: null },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage,
    system_fingerprint: 'fp_fake_llm',
  };
}

export interface ChunkDelta {
  role?: 'assistant';
  content?: string;
}

export function chunkBody(
  id: string,
  model: string,
  delta: ChunkDelta,
  finishReason: 'stop' | null = null,
) {
  return {
    id,
    object: 'chat.completion.chunk',
    created: nowSeconds(),
    model,
    system_fingerprint: 'fp_fake_llm',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
  };
}

/** The extra chunk OpenAI sends when `stream_options.include_usage` is set. */
export function usageChunkBody(id: string, model: string, usage: Usage) {
  return { ...chunkBody(id, model, {}), choices: [], usage };
}

export function errorBody(message: string, type: string, code: string | null = null) {
  return { error: { message, type, param: null, code } };
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
