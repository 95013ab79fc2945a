/**
 * Only the Redis part: `tsc -p bench/tsconfig.json && node dist-bench/bench/redis/main.js`.
 * Rewrites the Redis block of BENCHMARKS.md unless `BENCH_ROUNDS` is set (a trial, as in run.ts).
 */
import { benchRedis } from './index.js';

benchRedis({
  write: process.env.BENCH_ROUNDS === undefined,
  log: (message) => console.error(`[bench] ${message}`),
}).catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
