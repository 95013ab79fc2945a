import { fakeLlmOptionsFromEnv } from './fake-llm.options.js';
import { startFakeLlm } from './fake-llm.server.js';

const fake = await startFakeLlm(fakeLlmOptionsFromEnv(process.env));
console.log(`Fake LLM listening on ${fake.url}`);
console.log(
  `Admin: GET ${fake.url.replace(/\/v1$/, '')}/admin/stats, POST /admin/config, POST /admin/reset`,
);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void fake.close().then(() => process.exit(0));
  });
}
