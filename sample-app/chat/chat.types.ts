/** The body of `POST /chat`, `POST /chat/stream` and `POST /chat/rag`. */
export interface ChatRequest {
  prompt: string;
  model?: string;
}

import type { TokenUsage } from './token-estimate.js';

/** What `POST /chat` answers. */
export interface ChatAnswer {
  answer: string;
  model: string;
  /** The provider's completion id: equal ids mean one provider call served several requests. */
  id: string;
  usage?: TokenUsage;
  /** Set when the secondary model answered: why the primary did not. */
  fallbackReason?: string;
}

/** A stream's items: its tokens, then the usage the provider reported. */
export type StreamItem = string | { usage: TokenUsage };
