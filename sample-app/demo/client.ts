import type { ChatAnswer } from '../chat/chat.types.js';
import type { FakeLlmBehaviour, FakeLlmConfig, FakeLlmStats } from '../fake-llm/index.js';
import type { GatewayStatus } from '../status/status.controller.js';

/** What the demo reads of a `POST /chat` answer. */
export interface ChatReply {
  status: number;
  headers: Headers;
  /** The JSON body: the answer on a 200, the error otherwise. */
  body: Partial<ChatAnswer> & { error?: string };
}

/** What the demo reads of a `POST /chat/stream` answer. */
export interface StreamReply {
  status: number;
  tokens: string[];
  /** The last event: `done` when the stream ended well. */
  end: 'done' | 'error' | 'none';
}

/** The demo's requests go to the gateway, its fault injection to the fake provider's admin API. */
export class DemoClient {
  constructor(
    readonly gatewayUrl: string,
    readonly adminUrl: string,
  ) {}

  async chat(prompt: string): Promise<ChatReply> {
    const response = await this.post('/chat', prompt);
    const body = (await response.json().catch(() => ({}))) as ChatReply['body'];
    return { status: response.status, headers: response.headers, body };
  }

  async stream(prompt: string): Promise<StreamReply> {
    const response = await this.post('/chat/stream', prompt);
    const text = await response.text();
    if (response.status !== 200) return { status: response.status, tokens: [], end: 'none' };
    const tokens: string[] = [];
    let end: StreamReply['end'] = 'none';
    for (const block of text.split('\n\n')) {
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event === 'done' || event === 'error') end = event;
      else if (data) tokens.push((JSON.parse(data) as { token: string }).token);
    }
    return { status: response.status, tokens, end };
  }

  async status(): Promise<GatewayStatus> {
    return json(await fetch(`${this.gatewayUrl}/orchestrator/status`));
  }

  async stats(): Promise<FakeLlmStats> {
    return json(await fetch(`${this.adminUrl}/admin/stats`));
  }

  async configure(patch: FakeLlmConfig): Promise<FakeLlmBehaviour> {
    return json(
      await fetch(`${this.adminUrl}/admin/config`, { method: 'POST', body: JSON.stringify(patch) }),
    );
  }

  /** Turns every injected fault off, keeping the stats (unlike `reset`). */
  async heal(): Promise<void> {
    const healthy = {
      hang: false,
      outage: false,
      stallAfterTokens: null,
      firstTokenDelayMs: 0,
      faultyModels: [],
    };
    await json(
      await fetch(`${this.adminUrl}/admin/config`, {
        method: 'POST',
        body: JSON.stringify(healthy),
      }),
    );
  }

  async reset(): Promise<void> {
    await json(await fetch(`${this.adminUrl}/admin/reset`, { method: 'POST' }));
  }

  private post(path: string, prompt: string): Promise<Response> {
    return fetch(`${this.gatewayUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt }),
    });
  }
}

async function json<T>(response: Response): Promise<T> {
  if (!response.ok) throw new Error(`${response.url} answered ${response.status}`);
  return (await response.json()) as T;
}
