import { runDemo, formatSummary } from './demo/scenario.js';
import { stdoutOutput } from './demo/progress.js';
import { createGateway, type Gateway } from './gateway.js';

/**
 * `npm run demo`: drives the scripted scenario against the gateway at `GATEWAY_URL` (default
 * `http://127.0.0.1:$PORT`, port 3000), or, when none answers there, against one it starts
 * in-process with its fake provider. Exits 1 when a check of the scenario fails.
 */
const port = process.env.PORT?.trim() || '3000';
const target = process.env.GATEWAY_URL?.trim() || `http://127.0.0.1:${port}`;

let started: Gateway | undefined;
let gatewayUrl = target;
if (!(await answers(`${target}/orchestrator/status`))) {
  // Short timeouts, so that the hung and stalled provider phases take a second, not ten.
  started = await createGateway({
    env: {
      LLM_BREAKER_RECOVERY_MS: '2000',
      LLM_CALL_TIMEOUT_MS: '1500',
      LLM_FIRST_TOKEN_TIMEOUT_MS: '1000',
      LLM_IDLE_TIMEOUT_MS: '1000',
    },
  });
  gatewayUrl = started.url;
  console.log(`No gateway answers at ${target}; started one in-process at ${gatewayUrl}.`);
}

console.log(
  started
    ? `Watch it live: open ${gatewayUrl}/dashboard in a browser (it lasts as long as this demo; \`npm start\` in another terminal keeps one up).\n`
    : `Watch it live: open ${gatewayUrl}/dashboard in a browser.\n`,
);
let failed: boolean;
try {
  const summary = await runDemo({ gatewayUrl, out: stdoutOutput });
  console.log(formatSummary(summary));
  failed = summary.checks.some((check) => !check.ok);
} catch (error) {
  console.error(`\nThe demo stopped: ${error instanceof Error ? error.message : String(error)}`);
  failed = true;
} finally {
  await started?.close();
}
process.exit(failed ? 1 : 0);

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}
