import type { GatewayStatus } from '../status/status.controller.js';
import type {
  CircuitTransitionRecord,
  OrchestratorCounters,
} from '../status/orchestrator-stats.js';
import { DemoClient } from './client.js';
import { countdown, ProgressBar, type Output } from './progress.js';
import {
  describeStatuses as describe,
  runPrimaryOutagePhase,
  runRateLimitPhase,
  runTimeoutPhases,
  summarise,
  type DemoCheck,
  type PhaseKit,
  type PhaseResult,
  type RateLimitBurst,
} from './resilience-phases.js';

export type { PhaseResult } from './resilience-phases.js';

export interface DemoOptions {
  /** The running gateway, e.g. `http://127.0.0.1:3000`. */
  gatewayUrl: string;
  out: Output;
  /** Identical prompts sent at once. @default 20 */
  duplicates?: number;
  /** Provider latency during the bursts, so that the calls overlap. @default 600 */
  burstLatencyMs?: number;
  /** Long prompts sent in the token burst (more tokens than the provider allows). @default 20 */
  tokenBurst?: number;
}

export interface DemoSummary {
  gatewayUrl: string;
  providerUrl: string;
  phases: PhaseResult[];
  requestsSent: number;
  providerCalls: number;
  duplicateRequests: number;
  duplicateProviderCalls: number;
  /** Highest number of provider calls in flight at once (the cap must hold it). */
  peakInFlight: number;
  capacity: number;
  counters: Omit<OrchestratorCounters, 'pipelineRuns'>;
  transitions: CircuitTransitionRecord[];
  /** Answers the secondary model gave, by why the primary failed, and timeouts by phase. */
  fallbacks: GatewayStatus['fallbacks'];
  timeouts: GatewayStatus['timeouts'];
  rateLimitBurst: RateLimitBurst;
  /** What the scenario expects to see; all true when every policy did its job. */
  checks: DemoCheck[];
}

/**
 * The scripted scenario: a burst of duplicate prompts, an overload burst, a rate-limited call,
 * a provider outage and its recovery. Returns what happened; `formatSummary` prints it.
 */
export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const { out } = options;
  const duplicates = options.duplicates ?? 20;
  const burstLatencyMs = options.burstLatencyMs ?? 600;
  const first = await new DemoClient(options.gatewayUrl, '').status();
  const providerUrl = first.provider.baseURL;
  if (!providerUrl) throw new Error('the gateway reports no provider URL');
  const client = new DemoClient(options.gatewayUrl, providerUrl.replace(/\/v1\/?$/, ''));
  try {
    await client.stats();
  } catch {
    throw new Error(
      `the demo drives the fake provider's admin API, but ${client.adminUrl}/admin/stats does not answer; start the gateway with its fake provider (npm start, without LLM_BASE_URL)`,
    );
  }
  const { capacity } = first.backpressure.find((g) => g.name === 'llm') ?? { capacity: 4 };
  const { threshold } = first.policy.circuitBreaker;
  const run = Date.now().toString(36); // keeps prompts apart from earlier runs' cached answers
  const startedAt = new Date().toISOString();
  const phases: PhaseResult[] = [];

  // One call before the phases opens the gateway's connection to the provider, so that the
  // first burst's requests are not spread out by that set-up and all find the first in flight.
  await client.chat(`Warming up (${run})`);
  await client.reset();
  const phase = async (name: string, body: (result: PhaseResult) => Promise<void>) => {
    const before = (await client.stats()).received;
    const started = performance.now();
    const result: PhaseResult = { name, sent: 0, statuses: {}, providerCalls: 0, durationMs: 0 };
    await body(result);
    result.durationMs = performance.now() - started;
    result.providerCalls = (await client.stats()).received - before;
    phases.push(result);
    return result;
  };
  const send = async (result: PhaseResult, prompt: string) => {
    result.sent++;
    const reply = await client.chat(prompt);
    result.statuses[reply.status] = (result.statuses[reply.status] ?? 0) + 1;
    return reply;
  };
  const kit: PhaseKit = {
    client,
    out,
    run,
    primaryModel: first.models.primary,
    secondaryModel: first.models.secondary,
    phase,
    send,
  };
  const burst = async (result: PhaseResult, prompts: string[]) => {
    const bar = new ProgressBar(out, result.name, prompts.length);
    await Promise.all(
      prompts.map(async (prompt) => {
        await send(result, prompt);
        bar.tick(describe(result.statuses));
      }),
    );
    bar.finish(describe(result.statuses));
  };

  out.write(`\nScenario against ${options.gatewayUrl} (provider ${providerUrl})\n\n`);

  await client.configure({ latencyMs: burstLatencyMs });
  const dup = await phase('duplicate burst', (r) =>
    burst(r, Array(duplicates).fill(`What is single-flight dedupe? (${run})`)),
  );

  await client.configure({ latencyMs: burstLatencyMs + 200 });
  await phase('overload burst', (r) =>
    burst(
      r,
      Array.from({ length: Math.max(12, capacity * 3) }, (_, i) => `Overload prompt ${i} (${run})`),
    ),
  );

  await client.configure({ latencyMs: 0, rateLimitNext: 1, retryAfterMs: 300 });
  await phase('rate limit (429)', async (r) => {
    const bar = new ProgressBar(out, r.name, 1);
    await send(r, `Rate limited once (${run})`);
    bar.finish(`${describe(r.statuses)} after a retry that waited retry-after-ms`);
  });

  await client.configure({ outage: true });
  let retryAfterSeconds = 1;
  await phase('provider outage', async (r) => {
    const total = threshold + 3;
    const bar = new ProgressBar(out, r.name, total);
    for (let i = 0; i < total; i++) {
      const response = await send(r, `During the outage ${i} (${run})`);
      if (response.status === 503) {
        retryAfterSeconds = Number(response.headers.get('retry-after') ?? '1');
      }
      bar.tick(describe(r.statuses));
    }
    bar.finish(describe(r.statuses));
  });

  await client.configure({ outage: false });
  await phase('recovery', async (r) => {
    await countdown(out, 'circuit open, waiting', retryAfterSeconds * 1000 + 100);
    const bar = new ProgressBar(out, r.name, 1);
    for (let attempt = 0; attempt < 20; attempt++) {
      const response = await send(r, `After the outage (${run})`);
      if (response.status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    bar.finish(describe(r.statuses));
  });

  // The primary's failures below are answered by the secondary model (`@Fallback`).
  const timeoutChecks = await runTimeoutPhases(kit);
  const tokens = await runRateLimitPhase(kit, options.tokenBurst ?? 20, capacity);
  const primaryOutage = await runPrimaryOutagePhase(kit, threshold);

  const last = await client.status();
  const stats = await client.stats();
  await client.reset();

  const delta = (key: keyof Omit<OrchestratorCounters, 'pipelineRuns'>) =>
    last.counters[key] - first.counters[key];
  const counters = {
    dedupeHits: delta('dedupeHits'),
    dedupeExecutions: delta('dedupeExecutions'),
    sheds: delta('sheds'),
    retries: delta('retries'),
    retriesExhausted: delta('retriesExhausted'),
    circuitOpens: delta('circuitOpens'),
    circuitRejections: delta('circuitRejections'),
    rateLimitRefusals: delta('rateLimitRefusals'),
    rateLimitWaits: delta('rateLimitWaits'),
    rateLimitCooldowns: delta('rateLimitCooldowns'),
    tokensCharged: delta('tokensCharged'),
  };
  const transitions = last.transitions.filter((t) => t.at >= startedAt);
  const recovery = phases.find((p) => p.name === 'recovery')!;
  const recovered = recovery.statuses[200] === 1;
  const fallbacks = { ...last.fallbacks };
  for (const key of Object.keys(fallbacks) as Array<keyof typeof fallbacks>) {
    fallbacks[key] -= first.fallbacks[key];
  }
  const timeouts = { ...last.timeouts };
  for (const key of Object.keys(timeouts) as Array<keyof typeof timeouts>) {
    timeouts[key] -= first.timeouts[key];
  }
  const summary: DemoSummary = {
    gatewayUrl: options.gatewayUrl,
    providerUrl,
    phases,
    requestsSent: phases.reduce((n, p) => n + p.sent, 0),
    providerCalls: phases.reduce((n, p) => n + p.providerCalls, 0),
    duplicateRequests: dup.sent,
    duplicateProviderCalls: dup.providerCalls,
    peakInFlight: stats.peakInFlight,
    capacity,
    counters,
    transitions,
    fallbacks,
    timeouts,
    rateLimitBurst: tokens.burst,
    checks: [
      { label: 'duplicates made one provider call', ok: dup.providerCalls === 1 },
      { label: 'the overload burst was shed with 429', ok: counters.sheds > 0 },
      {
        label: `the cap held (peak ${stats.peakInFlight} <= ${capacity})`,
        ok: stats.peakInFlight <= capacity,
      },
      {
        label: 'the rate-limited call was retried',
        ok: phases[2].statuses[200] === 1 && counters.retries > 0,
      },
      {
        label: 'the outage of both models opened both circuits (503)',
        ok: counters.circuitOpens > 0 && counters.circuitRejections > 0,
      },
      { label: 'the circuit closed after recovery', ok: recovered },
      ...timeoutChecks,
      ...tokens.checks,
      ...primaryOutage.checks,
    ],
  };
  return summary;
}

/** The readable summary `npm run demo` prints at the end. */
export function formatSummary(s: DemoSummary): string {
  const saved = s.duplicateRequests - s.duplicateProviderCalls;
  const pct = s.duplicateRequests > 0 ? Math.round((saved / s.duplicateRequests) * 100) : 0;
  const row = (cells: Array<string | number>, widths: number[]) =>
    cells
      .map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i])))
      .join('  ');
  const widths = [18, 5, 5, 5, 5, 7, 9, 8];
  const lines = [
    '',
    'Summary',
    `  gateway ${s.gatewayUrl}, provider ${s.providerUrl}`,
    '',
    `  ${row(['phase', 'sent', '200', '429', '503', 'other', 'provider', 'time'], widths)}`,
    ...s.phases.map((p) => {
      const other = Object.entries(p.statuses)
        .filter(([status]) => !['200', '429', '503'].includes(status))
        .reduce((n, [, count]) => n + count, 0);
      const cells = [
        p.name,
        p.sent,
        p.statuses[200] ?? 0,
        p.statuses[429] ?? 0,
        p.statuses[503] ?? 0,
        other,
        p.providerCalls,
        `${(p.durationMs / 1000).toFixed(2)} s`,
      ];
      return `  ${row(cells, widths)}`;
    }),
    '',
    `  requests sent            ${s.requestsSent}`,
    `  provider calls made      ${s.providerCalls}`,
    `  dedupe savings           ${saved} of ${s.duplicateRequests} duplicate requests (${pct}%) answered without a provider call; ${s.counters.dedupeHits} dedupe hits in all`,
    `  sheds (429)              ${s.counters.sheds}; provider calls in flight peaked at ${s.peakInFlight} (capacity ${s.capacity})`,
    `  retries                  ${s.counters.retries} (${s.counters.retriesExhausted} calls ran out of attempts)`,
    `  circuit opens            ${s.counters.circuitOpens}; ${s.counters.circuitRejections} calls refused fast by an open circuit`,
    `  fallbacks                ${fallbackLine(s.fallbacks)}`,
    `  timeouts                 ${s.timeouts.call} calls, ${s.timeouts['first-item']} waits for a first token, ${s.timeouts.idle} gaps between tokens`,
    `  rate limit               ${s.rateLimitBurst.refused} refused and ${s.rateLimitBurst.waited} delayed by our limiter; ${s.rateLimitBurst.providerRateLimited} provider 429s`,
    `  tokens per request       ${s.rateLimitBurst.estimate} reserved, ${summarise(s.rateLimitBurst.charged)} charged`,
    '  circuit transitions (UTC)',
    ...(s.transitions.length > 0
      ? s.transitions.map((t) => `    ${t.at.slice(11, 23)}  ${t.circuit}  ${t.from} -> ${t.to}`)
      : ['    (none)']),
    '',
    ...s.checks.map((c) => `  ${c.ok ? '✔' : '✘'} ${c.label}`),
    '',
  ];
  return lines.join('\n');
}

function fallbackLine(f: GatewayStatus['fallbacks']): string {
  const total = Object.values(f).reduce((n, v) => n + v, 0);
  return `${total} answered by the secondary model (${f.timeout} timeouts, ${f['circuit-open']} open circuit, ${f['provider-error']} provider errors, ${f['stream-interrupted']} interrupted streams)`;
}
