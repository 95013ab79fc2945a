import { estimateTokens } from '../chat/token-estimate.js';
import { fakeAnswer } from '../fake-llm/index.js';
import type { ChatReply, DemoClient, StreamReply } from './client.js';
import { ProgressBar, type Output } from './progress.js';

/** One line of the summary's table; `statuses` counts answers by HTTP status. */
export interface PhaseResult {
  name: string;
  sent: number;
  statuses: Record<number, number>;
  /** Requests the fake provider received during the phase. */
  providerCalls: number;
  durationMs: number;
}

export interface DemoCheck {
  label: string;
  ok: boolean;
}

/** What the phases share: the client, the output, and the helpers that record a phase. */
export interface PhaseKit {
  client: DemoClient;
  out: Output;
  /** Makes this run's prompts unique, so that no earlier run's cached answer is reused. */
  run: string;
  primaryModel: string;
  secondaryModel: string;
  phase(name: string, body: (result: PhaseResult) => Promise<void>): Promise<PhaseResult>;
  send(result: PhaseResult, prompt: string): Promise<ChatReply>;
}

/** What the rate-limit burst did. */
export interface RateLimitBurst {
  /** Tokens reserved per request before the call (the estimate from the prompt). */
  estimate: number;
  /** Tokens charged per answered request (the usage the provider reported). */
  charged: number[];
  /** 429s the provider itself answered during the burst (should be 0). */
  providerRateLimited: number;
  /** Requests our limiter refused (429) and requests it made wait. */
  refused: number;
  waited: number;
}

export function describeStatuses(statuses: Record<number, number>): string {
  return Object.entries(statuses)
    .map(([status, count]) => `${count}×${status}`)
    .join(' ');
}

async function streamIn(kit: PhaseKit, result: PhaseResult, prompt: string): Promise<StreamReply> {
  result.sent++;
  const reply = await kit.client.stream(prompt);
  result.statuses[reply.status] = (result.statuses[reply.status] ?? 0) + 1;
  return reply;
}

/**
 * Sends one request while the primary model misbehaves, then one after it healed: the second
 * is answered by the primary again, which also resets its circuit's count of failures.
 */
async function faultPhase<T>(
  kit: PhaseKit,
  name: string,
  fault: Parameters<DemoClient['configure']>[0],
  request: (result: PhaseResult) => Promise<T>,
  detail: (reply: T) => string,
): Promise<T> {
  let reply: T | undefined;
  await kit.phase(name, async (result) => {
    const bar = new ProgressBar(kit.out, name, 2);
    await kit.client.configure({ ...fault, faultyModels: [kit.primaryModel] });
    reply = await request(result);
    bar.tick(detail(reply));
    await kit.client.heal();
    await kit.send(result, `The primary is back (${name}, ${kit.run})`);
    bar.finish(`${detail(reply)}; then ${describeStatuses(result.statuses)}`);
  });
  return reply!;
}

/** (a) a hung call, (c) a stalled stream, (d) a slow first token: each answered by the secondary. */
export async function runTimeoutPhases(kit: PhaseKit): Promise<DemoCheck[]> {
  const { secondaryModel } = kit;
  const answeredBy = (reply: ChatReply) => `${reply.status} from ${reply.body.model ?? '-'}`;
  const hung = await faultPhase(
    kit,
    'hung primary',
    { hang: true },
    (r) => kit.send(r, `Is anybody there? (${kit.run})`),
    (reply) => `${answeredBy(reply)} after ${reply.body.fallbackReason ?? 'no fallback'}`,
  );
  const storyPrompt = `Tell me about the seven wonders of the ancient world (${kit.run})`;
  const streamed = (reply: StreamReply) => `${reply.tokens.length} tokens, ${reply.end}`;
  const stalled = await faultPhase(
    kit,
    'stream stalls',
    { stallAfterTokens: 3 },
    (r) => streamIn(kit, r, storyPrompt),
    streamed,
  );
  const slowPrompt = `A slow start (${kit.run})`;
  const slow = await faultPhase(
    kit,
    'slow first token',
    { firstTokenDelayMs: 60_000 },
    (r) => streamIn(kit, r, slowPrompt),
    streamed,
  );
  const whole = (reply: StreamReply, prompt: string) =>
    reply.status === 200 && reply.end === 'done' && reply.tokens.join('') === fakeAnswer(prompt);
  return [
    {
      label: `a hung primary timed out and ${secondaryModel} answered`,
      ok: hung.status === 200 && hung.body.model === secondaryModel,
    },
    {
      label: 'a stream that stalled after 3 tokens was finished by the secondary: one whole stream',
      ok: whole(stalled, storyPrompt),
    },
    {
      label: 'a slow first token timed out and the secondary streamed',
      ok: whole(slow, slowPrompt),
    },
  ];
}

/** (b) the primary is down: its circuit opens, and the secondary answers every request. */
export async function runPrimaryOutagePhase(
  kit: PhaseKit,
  threshold: number,
): Promise<{ checks: DemoCheck[]; opened: boolean }> {
  const before = await kit.client.status();
  const opensBefore = before.counters.circuitOpens;
  await kit.client.configure({ outage: true, faultyModels: [kit.primaryModel] });
  const result = await kit.phase('primary outage', async (r) => {
    const total = threshold + 2;
    const bar = new ProgressBar(kit.out, r.name, total);
    for (let i = 0; i < total; i++) {
      await kit.send(r, `While the primary is down ${i} (${kit.run})`);
      bar.tick(describeStatuses(r.statuses));
    }
    bar.finish(`${describeStatuses(r.statuses)} (${kit.secondaryModel} answered)`);
  });
  await kit.client.heal();
  const after = await kit.client.status();
  const opened = after.counters.circuitOpens > opensBefore;
  const fellBackOnOpen = after.fallbacks['circuit-open'] > before.fallbacks['circuit-open'];
  return {
    opened,
    checks: [
      {
        label: "the primary's outage opened its circuit and the secondary answered (200, not 503)",
        ok: result.statuses[200] === result.sent && opened && fellBackOnOpen,
      },
    ],
  };
}

/**
 * (e) a burst of long prompts, more tokens than the provider allows a minute: our limiter
 * (below the provider's) makes the excess wait or refuses it, so the provider sends no 429.
 */
export async function runRateLimitPhase(
  kit: PhaseKit,
  count: number,
  concurrency: number,
): Promise<{ checks: DemoCheck[]; burst: RateLimitBurst }> {
  // Short words: many tokens per character (the fake counts words), within the 8000-char cap.
  const words = 2_600;
  const body = Array.from({ length: words }, (_, i) => (i % 2 ? 'ab' : 'cd')).join(' ');
  const prompts = Array.from({ length: count }, (_, i) => `${i} ${kit.run} ${body}`);
  const estimate = estimateTokens(prompts[0]);
  const before = await kit.client.status();
  const providerBefore = await kit.client.stats();
  const charged: number[] = [];
  await kit.phase('token burst', async (r) => {
    const bar = new ProgressBar(kit.out, r.name, count);
    const queue = [...prompts];
    const worker = async () => {
      for (let prompt = queue.shift(); prompt !== undefined; prompt = queue.shift()) {
        const reply = await kit.send(r, prompt);
        if (reply.status === 200 && reply.body.usage) charged.push(reply.body.usage.total_tokens);
        bar.tick(describeStatuses(r.statuses));
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    bar.finish(describeStatuses(r.statuses));
  });
  const after = await kit.client.status();
  const providerAfter = await kit.client.stats();
  const burst: RateLimitBurst = {
    estimate,
    charged,
    providerRateLimited:
      providerAfter.rateLimited -
      providerBefore.rateLimited +
      providerAfter.failures.rateLimit -
      providerBefore.failures.rateLimit,
    refused: after.counters.rateLimitRefusals - before.counters.rateLimitRefusals,
    waited: after.counters.rateLimitWaits - before.counters.rateLimitWaits,
  };
  kit.out.write(
    `  tokens per request: ${estimate} reserved (estimated from the prompt), ${summarise(charged)} charged (the usage the provider reported)\n`,
  );
  return {
    burst,
    checks: [
      {
        label: `the token burst got 0 provider 429s: our limiter refused ${burst.refused} and delayed ${burst.waited}`,
        ok: burst.providerRateLimited === 0 && burst.refused + burst.waited > 0,
      },
    ],
  };
}

/** `5201 ×11` for equal values, else the list. */
export function summarise(values: number[]): string {
  if (values.length === 0) return 'none';
  return new Set(values).size === 1 ? `${values[0]} ×${values.length}` : values.join(', ');
}
