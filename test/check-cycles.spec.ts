import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** `npm run check:cycles` (scripts/check-cycles.mjs) on small libraries written for each case. */

const SCRIPT = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  'scripts',
  'check-cycles.mjs',
);
const TSCONFIG = { compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext' } };

let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'check-cycles-'));
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** Writes `files` (paths under lib/) into a fresh project and runs the check there. */
async function check(name: string, files: Record<string, string>) {
  const project = join(work, name);
  for (const [file, text] of Object.entries(files)) {
    await mkdir(dirname(join(project, 'lib', file)), { recursive: true });
    await writeFile(join(project, 'lib', file), text);
  }
  await writeFile(join(project, 'tsconfig.json'), JSON.stringify(TSCONFIG));
  const { status, stdout, stderr } = spawnSync(process.execPath, [SCRIPT], {
    cwd: project,
    encoding: 'utf8',
  });
  return { status, stdout, stderr };
}

describe('check:cycles', () => {
  it('passes a library whose files and folders import one way only', async () => {
    const result = await check('acyclic', {
      'core/clock.ts': 'export const now = () => 0;\n',
      'retry/retry.ts': "import { now } from '../core/clock.js';\nexport const at = now();\n",
      'retry/retry.spec.ts': "import { at } from './retry.js';\nexport const t = at;\n",
      'index.ts': "export * from './retry/retry.js';\n",
    });
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('no import cycle between the 3 files of lib/');
    expect(result.status).toBe(0);
  });

  it('fails on two files that import each other through ./x.js specifiers, naming both', async () => {
    const result = await check('file-cycle', {
      'a.ts': "import { b } from './b.js';\nexport const a = () => b;\n",
      'b.ts': "import { a } from './a.js';\nexport const b = () => a;\n",
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('file cycle 1 of 1: lib/a.ts, lib/b.ts');
    expect(result.stderr).toContain('lib/a.ts -> lib/b.ts');
    expect(result.stderr).toContain('lib/b.ts -> lib/a.ts');
  });

  it('counts a type-only import in a cycle, and says it is type-only', async () => {
    const result = await check('type-cycle', {
      'guard.ts': "import { Slot } from './slot.js';\nexport interface Permit { slot: Slot }\n",
      'slot.ts': "import type { Permit } from './guard.js';\nexport class Slot { p?: Permit }\n",
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('lib/slot.ts imports lib/guard.ts (type-only)');
  });

  it('fails on folders that import each other although no file cycle closes', async () => {
    const result = await check('folder-cycle', {
      'runtime/runtime.ts': "import { retry } from '../retry/retry.js';\nexport const r = retry;\n",
      'retry/retry.ts': 'export const retry = 1;\n',
      'retry/retry.decorator.ts':
        "import { r } from '../runtime/runtime.js';\nexport const Retry = () => r;\n",
    });
    expect(result.status).toBe(1);
    expect(result.stderr).not.toContain('file cycle');
    expect(result.stderr).toContain('folder cycle 1 of 1: lib/retry, lib/runtime');
    expect(result.stderr).toContain('lib/retry/retry.decorator.ts imports lib/runtime/runtime.ts');
  });
});
