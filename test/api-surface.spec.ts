import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `npm run api:check` (scripts/api-report.mjs --check): CI runs it against the committed
 * api/nestjs-orchestrator.api.md; here it runs against a stale copy, which it must refuse.
 */

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const REPORT = join(REPO, 'api', 'nestjs-orchestrator.api.md');

let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'api-report-'));
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('api:check', () => {
  it('fails on a stale report, shows the first difference and says how to update it', async () => {
    const committed = await readFile(REPORT, 'utf8');
    const stale = join(work, 'stale.api.md');
    // A report from before `Pipeline` gained a method: the check must notice the new member.
    await writeFile(stale, committed.replace(/^ *stageCount\(\): number;\n/m, ''));
    const { status, stderr } = spawnSync(
      process.execPath,
      ['scripts/api-report.mjs', '--check', '--report', stale],
      { cwd: REPO, encoding: 'utf8' },
    );
    expect(stderr).toContain(`api:check: ${stale} is out of date with the exported API`);
    expect(stderr).toMatch(
      /First difference at line \d+: the report has .*, the API gives " *stageCount\(\): number;"/,
    );
    expect(stderr).toContain('Run `npm run api:report` and commit the updated report');
    expect(status).toBe(1);
  }, 180_000);
});
