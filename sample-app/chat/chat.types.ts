/** The body of `POST /chat`, `POST /chat/stream` and `POST /chat/rag`. */
export interface ChatRequest {
  prompt: string;
  model?: string;
}

/** What `POST /chat` answers. */
export interface ChatAnswer {
  answer: string;
  model: string;
  /** The provider's completion id: equal ids mean one provider call served several requests. */
  id: string;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}
