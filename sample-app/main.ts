import { createGateway, type Gateway } from './gateway.js';

/**
 * `npm start`: the fake LLM provider and the gateway on loopback, in-memory stores unless
 * `REDIS_URL` is set. Ctrl-C (SIGINT) or SIGTERM closes both.
 */
const port = parsePort(process.env.PORT, 3000);
let gateway: Gateway;
try {
  gateway = await createGateway({ port, logger: ['log', 'warn', 'error'] });
} catch (error) {
  console.error(`The gateway did not start: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
}
console.log(banner(gateway));

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) {
      console.log('Forced exit.');
      process.exit(130);
    }
    stopping = true;
    console.log(`\n${signal}: closing the gateway and the fake provider...`);
    gateway.close().then(
      () => {
        console.log('Stopped.');
        process.exit(0);
      },
      (error: unknown) => {
        console.error('Close failed:', error);
        process.exit(1);
      },
    );
  });
}

function parsePort(raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65_535) {
    console.error(`PORT should be an integer within 0..65535, got "${raw}"`);
    process.exit(1);
  }
  return value;
}

function banner({ url, fake, config, stores }: Gateway): string {
  const json = `-H 'content-type: application/json'`;
  const admin = fake ? fake.url.replace(/\/v1$/, '') : undefined;
  const { backpressure, circuitBreaker, retry, dedupe, timeout, rateLimit } = config;
  const lines = [
    '',
    'nestjs-orchestrator sample: an LLM gateway',
    `  gateway      ${url}`,
    `  dashboard    ${url}/dashboard   (live: circuits, depths, limits, dedupe savings)`,
    `  metrics      ${url}/metrics     health ${url}/health`,
    fake
      ? `  fake LLM     ${fake.url}  (admin: ${admin}/admin/stats | config | reset)`
      : `  LLM          ${config.llm.baseURL}`,
    `  stores       ${storesLine(stores, config.redisUrl)}`,
    `  policy llm   capacity ${backpressure.capacity}, dedupe ttl ${dedupe.ttlMs} ms, breaker ${circuitBreaker.threshold} failures / ${circuitBreaker.recoveryWindowMs} ms open, retry ${retry.maxAttempts} attempts`,
    `  limits       ${rateLimit.requestsPerMinute} requests and ${rateLimit.tokensPerMinute} tokens a minute; timeouts ${timeout.callMs} ms a call, ${timeout.firstTokenMs} ms to a stream's first token, ${timeout.idleMs} ms between tokens`,
    `  models       ${config.llm.model}, falling back to ${config.llm.secondaryModel}`,
    '',
    'Try:',
    `  curl -s ${url}/chat ${json} -d '{"prompt":"hello"}'`,
    `  curl -sN ${url}/chat/stream ${json} -d '{"prompt":"tell me a story about a circuit"}'`,
    `  curl -s ${url}/chat/rag ${json} -d '{"prompt":"what does the circuit breaker do?"}'`,
    `  curl -s ${url}/orchestrator/status`,
  ];
  if (admin) {
    lines.push(
      `  curl -s ${admin}/admin/config -d '{"outage":true}'    # provider outage (then "outage":false)`,
      `  curl -s ${admin}/admin/config -d '{"latencyMs":2000}' # a slow provider`,
      `  curl -s ${admin}/admin/config -d '{"hang":true,"faultyModels":["${config.llm.model}"]}' # a hung primary: the secondary answers`,
    );
  }
  lines.push('  npm run demo   # the scripted scenario, in another terminal', '', 'Ctrl-C stops.');
  return lines.join('\n');
}

function storesLine(stores: Gateway['stores'], redisUrl: string | undefined): string {
  if (stores === 'redis') return `Redis at ${redisUrl} (shared by every gateway using it)`;
  if (stores === 'memory')
    return 'in-memory (set REDIS_URL=redis://127.0.0.1:6379 to share them through Redis)';
  return stores;
}
