import { spawn, type ChildProcess } from 'node:child_process';
import type { Redis } from 'ioredis';
import { CB_ADMIT } from '../../lib/redis/lua/circuit-breaker.lua.js';
import { KEY_PREFIX } from './app.js';
import { BENCHMARK_CLIENTS, BENCHMARK_REQUESTS, CALLERS, PROCESSES } from './config.js';

const TIMEOUT_MS = 20_000;

export interface CeilingSpec {
  readonly label: string;
  readonly lua: string;
  /** The command line after `evalsha <sha>`: numkeys, keys, args. */
  readonly args: readonly string[];
  /** redis-benchmark `-c`. */
  readonly clients: number;
  /** redis-benchmark `-P`: commands in flight per connection; 1 waits for each reply. */
  readonly pipeline: number;
  readonly requests: number;
}

const RETURN_1 = { label: 'EVALSHA `return 1`', lua: 'return 1', args: ['0'] };

/**
 * The issue's limit: EVALSHA of a script that does nothing, `-c 50`, each connection waiting
 * for its reply. Beside it the breaker's admit script on a closed circuit (TIME + HMGET, the most
 * frequent script of a healthy fleet), and the empty script pipelined the way ioredis carries
 * the bench's load: one connection per process, many commands in flight on it.
 */
export const CEILINGS: readonly CeilingSpec[] = [
  { ...RETURN_1, clients: BENCHMARK_CLIENTS, pipeline: 1, requests: BENCHMARK_REQUESTS },
  {
    label: 'EVALSHA breaker admit (closed circuit)',
    lua: CB_ADMIT.lua,
    args: [
      '2',
      `${KEY_PREFIX}{cb:rb.ceiling}:st`,
      `${KEY_PREFIX}{cb:rb.ceiling}:probe`,
      ...['1', '60000', 'token', '86400000', `${KEY_PREFIX}cb:transitions`, 'rb.ceiling', '30000'],
    ],
    clients: BENCHMARK_CLIENTS,
    pipeline: 1,
    requests: BENCHMARK_REQUESTS,
  },
  { ...RETURN_1, clients: PROCESSES, pipeline: CALLERS, requests: 10 * BENCHMARK_REQUESTS },
];

export interface CeilingSample {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  /** redis-server's CPU time over wall time during the run (1 = one core). */
  readonly redisCpu?: number;
  /** redis-server's CPU time per request, in µs. */
  readonly redisMicros?: number;
}

/** Spawned redis-benchmark processes, killed by `stopBenchmarks()` on the way out. */
const running = new Set<ChildProcess>();

/** The options that set the load, as the report shows them. */
export function loadOptions(spec: CeilingSpec): string {
  return `-c ${spec.clients}${spec.pipeline > 1 ? ` -P ${spec.pipeline}` : ''}`;
}

/** One `redis-benchmark -p PORT -n N -c C [-P P] -q evalsha SHA ...` run. */
export async function redisBenchmark(
  binary: string,
  port: number,
  meter: Redis,
  spec: CeilingSpec,
): Promise<CeilingSample> {
  const sha = (await meter.script('LOAD', spec.lua)) as string;
  const argv = ['-h', '127.0.0.1', '-p', String(port), '-n', String(spec.requests)];
  argv.push('-c', String(spec.clients), '-P', String(spec.pipeline));
  argv.push('-q', 'evalsha', sha, ...spec.args);
  const output = await run(binary, argv);
  const rps = [...output.matchAll(/([\d.]+) requests per second(?:, p50=([\d.]+) msec)?/g)].pop();
  if (rps === undefined) throw new Error(`redis-benchmark printed no result:\n${output}`);
  return { requestsPerSecond: Number(rps[1]), p50Ms: Number(rps[2] ?? NaN) };
}

function run(binary: string, argv: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.once('error', (error) => {
      clearTimeout(timer);
      running.delete(child);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      if (code === 0) resolve(output);
      else reject(new Error(`redis-benchmark exited (code ${code}, signal ${signal}):\n${output}`));
    });
  });
}

export function stopBenchmarks(): void {
  for (const child of running) child.kill('SIGKILL');
}
