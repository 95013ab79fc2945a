/** Tokens an answer reported using, as OpenAI's `usage` field carries them. */
export interface TokenUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** Most tokens an answer may take beyond the prompt's echo (the fake's answer is `Echo: ` + prompt). */
const ANSWER_OVERHEAD_TOKENS = 16;

/**
 * Tokens reserved for a prompt before the call: the prompt's tokens plus an answer as long as
 * the prompt (the fake provider echoes it). Words and punctuation runs count as tokens, which
 * is what the fake charges and a little above what OpenAI's tokenizer gives for English; for a
 * real model reserve `prompt tokens + max_tokens` instead. An estimate above the real usage
 * only holds capacity until the call settles and the usage is charged instead.
 */
export function estimateTokens(prompt: string): number {
  const promptTokens = prompt.match(/\S+/g)?.length ?? 0;
  return 2 * promptTokens + ANSWER_OVERHEAD_TOKENS;
}

/**
 * What a call really used, from its result: `usage.total_tokens` of a completion, or of a
 * stream's last item (the usage chunk). `undefined` (no usage reported) keeps the estimate.
 */
export function usedTokens(result: unknown): number | undefined {
  const usage = (result as { usage?: Partial<TokenUsage> } | null | undefined)?.usage;
  return typeof usage?.total_tokens === 'number' ? usage.total_tokens : undefined;
}
