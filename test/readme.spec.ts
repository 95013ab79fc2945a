import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as cockatiel from 'cockatiel';

/**
 * The README is compiled and its comparison table checked: every ```ts block is a module
 * that must type-check against the library's source (`nestjs-orchestrator` mapped to
 * lib/index.ts), and the table's cells about opossum and cockatiel are what the installed
 * versions do.
 */

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TSC = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
const run = promisify(execFile);

/** opossum ships no type declarations; this is the part of its API the table relies on. */
type OpossumBreaker = { fire(...args: unknown[]): Promise<unknown> };
const CircuitBreakerOpossum = createRequire(import.meta.url)('opossum') as new (
  action: (...args: any[]) => unknown,
  options: Record<string, unknown>,
) => OpossumBreaker;

function tsBlocks(markdown: string): Array<{ code: string; line: number }> {
  const blocks: Array<{ code: string; line: number }> = [];
  const pattern = /^```ts\n([\s\S]*?)^```$/gm;
  for (let match = pattern.exec(markdown); match; match = pattern.exec(markdown)) {
    blocks.push({ code: match[1], line: markdown.slice(0, match.index).split('\n').length });
  }
  return blocks;
}

describe('README.md', () => {
  let readme: string;
  let work: string;

  beforeAll(async () => {
    readme = await readFile(join(REPO, 'README.md'), 'utf8');
    work = await mkdtemp(join(tmpdir(), 'nestjs-orchestrator-readme-'));
  });

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('has TypeScript snippets, and every one compiles', async () => {
    const blocks = tsBlocks(readme);
    expect(blocks.length).toBeGreaterThanOrEqual(10);
    const files = blocks.map((block) => `snippet-line-${block.line}.ts`);
    await Promise.all(blocks.map((block, i) => writeFile(join(work, files[i]), block.code)));
    await writeFile(join(work, 'package.json'), JSON.stringify({ type: 'module' }));
    await symlink(join(REPO, 'node_modules'), join(work, 'node_modules'), 'dir');
    const tsconfig = {
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2022', 'DOM'],
        module: 'nodenext',
        moduleResolution: 'nodenext',
        experimentalDecorators: true,
        emitDecoratorMetadata: true,
        useDefineForClassFields: false,
        strict: true,
        noImplicitOverride: true,
        skipLibCheck: true,
        isolatedModules: true,
        types: ['node'],
        noEmit: true,
        allowImportingTsExtensions: true,
        paths: {
          'nestjs-orchestrator': [join(REPO, 'lib', 'index.ts')],
          'nestjs-orchestrator/redis': [join(REPO, 'lib', 'redis', 'index.ts')],
        },
      },
      files: files,
    };
    await writeFile(join(work, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
    let output = '';
    try {
      await run(process.execPath, [TSC, '-p', join(work, 'tsconfig.json'), '--pretty', 'false'], {
        cwd: work,
        maxBuffer: 16 * 1024 * 1024,
      });
    } catch (error) {
      output = (error as { stdout?: string }).stdout ?? String(error);
    }
    // Errors in the snippets, pointed at the README's line (the library is checked elsewhere).
    const errors = output
      .split('\n')
      .filter((line) => line.startsWith('snippet-line-'))
      .map((line) => {
        const [, start, row, message] = /^snippet-line-(\d+)\.ts\((\d+),\d+\): (.*)$/.exec(line)!;
        return `README.md:${Number(start) + Number(row)}: ${message}`;
      });
    expect(errors).toEqual([]);
  }, 60_000);

  it('names only scripts that package.json defines', async () => {
    const { scripts } = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const named = [...readme.matchAll(/npm run ([a-z:-]+)/g)].map((m) => m[1]);
    expect(named.length).toBeGreaterThan(0);
    expect(named.filter((name) => !(name in scripts))).toEqual([]);
  });
});

/**
 * The comparison table's cells for opossum and cockatiel, checked against the installed
 * versions (see package.json devDependencies).
 */
describe('README comparison: what opossum and cockatiel do', () => {
  const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));
  const slowStream = async () =>
    (async function* () {
      await sleep(20);
      yield 'token';
    })();

  it('opossum: sheds past `capacity`, coalesces identical calls, has no retry', async () => {
    const capped = new CircuitBreakerOpossum(() => sleep(30), { capacity: 1, timeout: false });
    const results = await Promise.allSettled([capped.fire(), capped.fire()]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    expect(((results[1] as PromiseRejectedResult).reason as { code: string }).code).toBe(
      'ESEMLOCKED',
    );

    let executions = 0;
    const coalescing = new CircuitBreakerOpossum(
      async (key: string) => {
        executions++;
        await sleep(30);
        return key;
      },
      { coalesce: true, coalesceTTL: 1_000, timeout: false },
    );
    await Promise.all([coalescing.fire('a'), coalescing.fire('a'), coalescing.fire('a')]);
    expect(executions).toBe(1);

    let attempts = 0;
    const failing = new CircuitBreakerOpossum(
      async () => {
        attempts++;
        throw Object.assign(new Error('503'), { status: 503 });
      },
      { timeout: false },
    );
    await expect(failing.fire()).rejects.toThrow('503');
    expect(attempts).toBe(1);
  });

  it('opossum and cockatiel: a stream returned by the call does not keep its slot', async () => {
    const capped = new CircuitBreakerOpossum(slowStream, { capacity: 1, timeout: false });
    await capped.fire(); // the stream is returned, not consumed
    await expect(capped.fire()).resolves.toBeDefined(); // the slot is already free

    const bulkhead = cockatiel.bulkhead(1);
    await bulkhead.execute(slowStream);
    expect(bulkhead.executionSlots).toBe(1);
  });

  it('cockatiel: a bulkhead sheds, retry backs off exponentially but ignores Retry-After', async () => {
    const bulkhead = cockatiel.bulkhead(1);
    const results = await Promise.allSettled([
      bulkhead.execute(() => sleep(30)),
      bulkhead.execute(() => sleep(30)),
    ]);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(
      cockatiel.BulkheadRejectedError,
    );

    const retry = cockatiel.retry(cockatiel.handleAll, {
      maxAttempts: 1,
      backoff: new cockatiel.ExponentialBackoff({ initialDelay: 5, maxDelay: 10 }),
    });
    let attempts = 0;
    const started = performance.now();
    await retry.execute(() => {
      attempts++;
      if (attempts === 1) {
        throw Object.assign(new Error('429'), { status: 429, headers: { 'retry-after': '2' } });
      }
      return 'ok';
    });
    expect(attempts).toBe(2);
    expect(performance.now() - started).toBeLessThan(1_000); // not the 2 s the server asked for
  });

  it('cockatiel: exports no dedupe or coalescing policy', () => {
    expect(
      Object.keys(cockatiel).filter((name) => /dedup|coalesc|singleflight/i.test(name)),
    ).toEqual([]);
  });
});
