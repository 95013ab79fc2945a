import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as cockatiel from 'cockatiel';

/**
 * The README and every page under docs/ are compiled and checked: each ```ts block is a
 * module that must type-check against the library's source (`nestjs-orchestrator` mapped to
 * lib/index.ts), links between the pages lead somewhere, every `npm run` names a script, and
 * the comparison table's cells about opossum and cockatiel are what the installed versions do.
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

interface Page {
  /** Relative to the repository, with forward slashes: `README.md`, `docs/redis.md`. */
  path: string;
  text: string;
}

/** README.md and every Markdown file under docs/, whoever added it. */
async function readPages(): Promise<Page[]> {
  const docs = (await readdir(join(REPO, 'docs'), { recursive: true }))
    .filter((file) => file.endsWith('.md'))
    .map((file) => `docs/${file.split(sep).join('/')}`)
    .sort();
  return Promise.all(
    ['README.md', ...docs].map(async (path) => ({
      path,
      text: await readFile(join(REPO, path), 'utf8'),
    })),
  );
}

function tsBlocks(markdown: string): Array<{ code: string; line: number }> {
  const blocks: Array<{ code: string; line: number }> = [];
  const pattern = /^```ts\n([\s\S]*?)^```$/gm;
  for (let match = pattern.exec(markdown); match; match = pattern.exec(markdown)) {
    blocks.push({ code: match[1], line: markdown.slice(0, match.index).split('\n').length });
  }
  return blocks;
}

/** Markdown without its fenced blocks, so a link-like string in code is not read as a link. */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```$/gm, '');
}

/** The anchors GitHub gives a page's headings (lower case, punctuation dropped, `-1` for repeats). */
function headingAnchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const [, title] of prose(markdown).matchAll(/^#{1,6} +(.+)$/gm)) {
    const base = title
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** The cells of the Markdown table whose header row starts with `header`, one array per row. */
function tableRows(markdown: string, header: RegExp): string[][] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => line.startsWith('|') && header.test(line));
  if (start < 0) return [];
  const rows: string[][] = [];
  for (const line of lines.slice(start)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .slice(1, -1)
        .split(' | ')
        .map((cell) => cell.trim()),
    );
  }
  return rows;
}

describe('README.md and docs/', () => {
  let pages: Page[];
  let work: string;

  beforeAll(async () => {
    pages = await readPages();
    work = await mkdtemp(join(tmpdir(), 'nestjs-orchestrator-readme-'));
  });

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('has TypeScript snippets, and every one compiles', async () => {
    const snippets = pages.flatMap((page) =>
      tsBlocks(page.text).map((block) => ({
        ...block,
        page: page.path,
        file: `${page.path.replace(/[/.]/g, '_')}-line-${block.line}.ts`,
      })),
    );
    expect(snippets.filter((snippet) => snippet.page === 'README.md').length).toBeGreaterThan(0);
    expect(snippets.length).toBeGreaterThanOrEqual(10);
    await Promise.all(snippets.map((snippet) => writeFile(join(work, snippet.file), snippet.code)));
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
          'nestjs-orchestrator/otel': [join(REPO, 'lib', 'otel', 'index.ts')],
          'nestjs-orchestrator/terminus': [join(REPO, 'lib', 'terminus', 'index.ts')],
        },
      },
      files: snippets.map((snippet) => snippet.file),
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
    // Errors in the snippets, pointed at the page's line (the library is checked elsewhere).
    const byFile = new Map(snippets.map((snippet) => [snippet.file, snippet]));
    const errors = output
      .split('\n')
      .map((line) => /^(\S+-line-\d+\.ts)\((\d+),\d+\): (.*)$/.exec(line))
      .filter((match) => match !== null && byFile.has(match[1]))
      .map((match) => {
        const [, file, row, message] = match!;
        const snippet = byFile.get(file)!;
        return `${snippet.page}:${snippet.line + Number(row)}: ${message}`;
      });
    expect(errors).toEqual([]);
  }, 120_000);

  it('links only to files and headings that exist', async () => {
    const anchors = new Map(pages.map((page) => [page.path, headingAnchors(page.text)]));
    const broken: string[] = [];
    for (const page of pages) {
      for (const [, target] of prose(page.text).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/i.test(target)) continue; // https:, mailto:
        const [file, anchor] = target.split('#');
        const resolved = file
          ? posix.normalize(posix.join(posix.dirname(page.path), file))
          : page.path;
        const exists = await stat(join(REPO, resolved)).then(
          () => true,
          () => false,
        );
        if (!exists) broken.push(`${page.path}: ${target} (no file ${resolved})`);
        else if (anchor && resolved.endsWith('.md') && !anchors.get(resolved)?.has(anchor)) {
          broken.push(`${page.path}: ${target} (no heading #${anchor} in ${resolved})`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('every page under docs/ can be reached from the README by following links', () => {
    const linksOf = (page: Page) =>
      [...prose(page.text).matchAll(/\]\(([^)#\s]+\.md)(?:#[^)]*)?\)/g)]
        .filter(([, target]) => !/^[a-z]+:/i.test(target))
        .map(([, target]) => posix.normalize(posix.join(posix.dirname(page.path), target)));
    const byPath = new Map(pages.map((page) => [page.path, page]));
    const reached = new Set(['README.md']);
    const queue = ['README.md'];
    while (queue.length > 0) {
      for (const target of linksOf(byPath.get(queue.shift()!)!)) {
        if (byPath.has(target) && !reached.has(target)) {
          reached.add(target);
          queue.push(target);
        }
      }
    }
    expect(pages.map((page) => page.path).filter((path) => !reached.has(path))).toEqual([]);
  });

  it('names only scripts that package.json defines', async () => {
    const { scripts } = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const named = pages.flatMap((page) =>
      [...page.text.matchAll(/npm run ([a-z:-]+)/g)].map((m) => `${page.path}: ${m[1]}`),
    );
    expect(named.length).toBeGreaterThan(0);
    expect(named.filter((entry) => !(entry.split(': ')[1] in scripts))).toEqual([]);
  });
});

/**
 * The comparison table's cells for opossum and cockatiel (docs/comparison.md), checked against
 * the installed versions (see package.json devDependencies).
 */
describe('README comparison: what opossum and cockatiel do', () => {
  /** Every cell the table marks _(tested)_, by row and column; each is checked by a test below. */
  const TESTED_CELLS: Record<string, { opossum?: string; cockatiel?: string }> = {
    'Retry with capped exponential backoff and jitter': {
      opossum: 'no retry _(tested)_',
      cockatiel: 'yes _(tested)_',
    },
    'Waits the `Retry-After` / `retry-after-ms` of the failed call': {
      cockatiel: 'no: waits its own backoff _(tested)_',
    },
    'Concurrency cap that sheds or queues': {
      opossum: '`capacity` sheds _(tested)_',
      cockatiel: '`bulkhead(limit, queue)` sheds _(tested)_',
    },
    'Identical concurrent calls share one execution': {
      opossum: '`coalesce` _(tested)_',
      cockatiel: 'no such policy _(tested)_',
    },
    'A returned stream holds its slot until it ends or the consumer leaves': {
      opossum: "no: the slot frees when the call's promise resolves _(tested)_",
      cockatiel: 'no: same _(tested)_',
    },
  };

  it('the table marks as tested exactly the cells checked here', async () => {
    const pages = await readPages();
    const header = /^\| +\| nestjs-orchestrator +\| opossum +\| cockatiel /;
    const holders = pages.filter((page) => tableRows(page.text, header).length > 0);
    expect(holders.map((page) => page.path)).toEqual(['docs/comparison.md']);
    const [head, , ...rows] = tableRows(holders[0].text, header);
    const column = { opossum: head.indexOf('opossum'), cockatiel: head.indexOf('cockatiel') };
    const marked: Record<string, { opossum?: string; cockatiel?: string }> = {};
    for (const row of rows) {
      for (const library of ['opossum', 'cockatiel'] as const) {
        const cell = row[column[library]];
        if (cell.includes('_(tested)_')) (marked[row[0]] ??= {})[library] = cell;
      }
    }
    expect(marked).toEqual(TESTED_CELLS);
  });

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
