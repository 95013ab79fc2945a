import { readFileSync } from 'node:fs';

/**
 * The top frames of a `node --cpu-prof` profile, by self time, with their share of the samples:
 *
 *   BENCH_ONLY=cap BENCH_ROWS=Chain node --expose-gc --cpu-prof --cpu-prof-dir=prof \
 *     dist-bench/bench/suite.js
 *   node dist-bench/bench/cpu-top.js prof/*.cpuprofile [20]
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
}

function top(path: string, count: number): string[] {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const frameOf = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const hits = new Map<string, number>();
  for (const id of profile.samples) {
    const frame = frameOf.get(id)!;
    const file = frame.url.replace(/^.*\/(node_modules|dist-bench)\//, '');
    const name = `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}`;
    hits.set(name, (hits.get(name) ?? 0) + 1);
  }
  const total = profile.samples.length;
  return [...hits.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, n]) => `${((100 * n) / total).toFixed(1).padStart(5)} %  ${name}`);
}

const [path, count = '20'] = process.argv.slice(2);
console.log(top(path, Number(count)).join('\n'));
