import type { CeilingSample, CeilingSpec } from './ceiling.js';
import type { LoadSummary } from './config.js';
import type { PathSpec } from './paths.js';
import type { SequentialResult } from './protocol.js';
import type { Delta } from './stats.js';

/** What one run of the Redis bench measured: what its report and its targets are made from. */
export interface RedisReport {
  readonly roundTrips: readonly { spec: PathSpec; delta: Delta; sequential: SequentialResult }[];
  readonly throughput: readonly { spec: PathSpec; one: LoadSummary; all: LoadSummary }[];
  readonly ceilings: readonly { spec: CeilingSpec; samples: readonly CeilingSample[] }[];
  readonly benchmarkMissing: boolean;
  readonly redisVersion: string;
  readonly seconds: number;
}

/** A rate with thousands separators, as the tables print it. */
export const rate = (value: number) => Math.round(value).toLocaleString('en-US');
