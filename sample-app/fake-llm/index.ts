export { startFakeLlm, type FakeLlm } from './fake-llm.server.js';
export {
  DEFAULT_BEHAVIOUR,
  fakeLlmOptionsFromEnv,
  type FailNext,
  type FakeLlmBehaviour,
  type FakeLlmConfig,
  type FakeLlmOptions,
} from './fake-llm.options.js';
export type { FailureKind, FakeLlmStats } from './fake-llm.stats.js';
export { fakeAnswer, tokenize } from './openai-format.js';
