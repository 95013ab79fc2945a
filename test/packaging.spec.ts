import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, symlink, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * The published artifact, as a user gets it: `npm run build`, `npm pack`, then a fresh Nest 12
 * ESM app outside the repository installs the tarball (offline: the package has no
 * dependencies, and its peers come from the repository's node_modules), compiles with tsc
 * (nodenext, strict, library types checked) and runs with plain node on a loopback port.
 */

const run = promisify(execFile);
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TSC = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
const STEP_TIMEOUT = 120_000;

let work: string;
let app: string;
let tarball: string;
let packedFiles: string[];

async function sh(command: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await run(command, args, {
      cwd,
      timeout: STEP_TIMEOUT,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false' },
    });
    return stdout;
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${stdout}\n${stderr}`, {
      cause: error,
    });
  }
}

const CONSUMER_TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    lib: ['ES2022', 'DOM'],
    module: 'nodenext',
    moduleResolution: 'nodenext',
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    strict: true,
    // The library's own declarations must type-check in a user's project.
    skipLibCheck: false,
    types: ['node'],
    rootDir: 'src',
    outDir: 'dist',
  },
  include: ['src'],
};

/** A user's app: decorated controller routes and a provider, named policies, the filter. */
const CONSUMER_MAIN = `import 'reflect-metadata';
import { Controller, Get, Injectable, Module, Param } from '@nestjs/common';
import { APP_FILTER, NestFactory } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import {
  Backpressure,
  CircuitBreaker,
  Dedupe,
  isRetryableLlmError,
  Orchestrator,
  OrchestratorExceptionFilter,
  OrchestratorModule,
  Retry,
  type OrchestratorModuleOptions,
} from 'nestjs-orchestrator';

let attempts = 0;
let executions = 0;

@Injectable()
export class Downstream {
  @Dedupe()
  async lookup(id: string): Promise<{ id: string; executions: number }> {
    executions++;
    await new Promise((resolve) => setTimeout(resolve, 50));
    return { id, executions };
  }
}

@Controller()
export class AppController {
  constructor(
    private readonly downstream: Downstream,
    private readonly orchestrator: Orchestrator,
  ) {}

  /** Fails every odd attempt with a 503-shaped error: one retry makes it succeed. */
  @CircuitBreaker('downstream')
  @Retry('downstream')
  @Get('flaky/:id')
  async flaky(@Param('id') id: string): Promise<{ id: string; attempts: number }> {
    attempts++;
    if (attempts % 2 === 1) throw Object.assign(new Error('unavailable'), { status: 503 });
    return { id, attempts };
  }

  @Backpressure({ capacity: 1 })
  @Get('slow')
  async slow(): Promise<string> {
    await new Promise((resolve) => setTimeout(resolve, 200));
    return 'done';
  }

  @Get('lookup/:id')
  lookup(@Param('id') id: string) {
    return this.downstream.lookup(id);
  }

  @Get('circuits')
  async circuits() {
    const names = this.orchestrator.circuits();
    return Promise.all(names.map(async (name) => ({ name, state: await this.orchestrator.circuit(name).state() })));
  }
}

const options: OrchestratorModuleOptions = {
  policies: {
    downstream: {
      circuitBreaker: { name: 'downstream', threshold: 5, recoveryWindowMs: 1_000 },
      retry: { maxAttempts: 3, baseDelayMs: 1, jitter: 'none', retryOn: isRetryableLlmError },
    },
  },
};

@Module({
  imports: [OrchestratorModule.forRoot(options)],
  controllers: [AppController],
  providers: [Downstream, { provide: APP_FILTER, useClass: OrchestratorExceptionFilter }],
})
export class AppModule {}

const app = await NestFactory.create(AppModule, { logger: false });
await app.listen(0, '127.0.0.1');
console.log(\`LISTENING \${(app.getHttpServer().address() as AddressInfo).port}\`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
`;

/** Compiled with the app: the types are real (not any), and the exports map is enforced. */
const CONSUMER_TYPES = `import {
  isCircuitOpenError,
  RetryPolicy,
  type BackpressureOptions,
  type CircuitBreakerOptions,
  type OrchestratorEvent,
  type RetryOptions,
} from 'nestjs-orchestrator';
import type { RedisCircuitBreakerStore } from 'nestjs-orchestrator/redis';
import { ORCHESTRATOR_METRICS, type OrchestratorMetricsOptions } from 'nestjs-orchestrator/otel';
import type { OrchestratorHealthOptions } from 'nestjs-orchestrator/terminus';

export const retry: RetryOptions = { maxAttempts: 2, jitter: 'equal' };
// @ts-expect-error maxAttempts is a number
export const badRetry: RetryOptions = { maxAttempts: 'two' };
// @ts-expect-error capacity has no default
export const badCap: BackpressureOptions = { softLimit: 1 };
// @ts-expect-error not a jitter mode
export const badJitter: RetryOptions = { jitter: 'sometimes' };
export const breaker: CircuitBreakerOptions = { threshold: 2, isFailure: (e) => !isCircuitOpenError(e) };
export const delay: number = RetryPolicy.exponential(3, 100).delayFor(2);
export function describe(event: OrchestratorEvent): string {
  return event.type === 'circuit.state' ? \`\${event.circuit}: \${event.to}\` : event.type;
}
export type RedisStore = RedisCircuitBreakerStore;
export const callsMetric: 'orchestrator.calls' = ORCHESTRATOR_METRICS.calls;
export const metricsOptions: OrchestratorMetricsOptions = { calls: false };
export const health: OrchestratorHealthOptions = { circuits: ['downstream'], redis: { degraded: false } };
// @ts-expect-error deep imports are outside the package's exports map
export type Deep = typeof import('nestjs-orchestrator/dist/retry/retry.policy.js');
`;

/** The package as npm installed it in the consumer app. */
const installedPackage = () => join(app, 'node_modules', 'nestjs-orchestrator');

async function linkPeers(nodeModules: string): Promise<void> {
  // The tarball is installed for real; its peers (and their dependencies) are the repository's.
  const skip = new Set(['nestjs-orchestrator', '.bin', '.package-lock.json', '.cache']);
  for (const entry of await readdir(join(REPO, 'node_modules'))) {
    if (skip.has(entry)) continue;
    await symlink(join(REPO, 'node_modules', entry), join(nodeModules, entry), 'dir');
  }
}

function startApp(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['dist/main.js'], {
    cwd: app,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolvePort, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`app did not start:\n${output}`)), 20_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /LISTENING (\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolvePort({ child, port: Number(match[1]) });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`app exited with ${code}:\n${output}`));
    });
  });
}

describe('the packed artifact in a fresh Nest 12 app', () => {
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'nestjs-orchestrator-pack-'));
    app = join(work, 'app');
    await sh('npm', ['run', 'build'], REPO);
    const packed = JSON.parse(
      await sh('npm', ['pack', '--json', '--pack-destination', work], REPO),
    ) as Array<{
      filename: string;
      files: Array<{ path: string }>;
    }>;
    tarball = join(work, packed[0].filename);
    packedFiles = packed[0].files.map((f) => f.path);

    await mkdir(join(app, 'src'), { recursive: true });
    await writeFile(
      join(app, 'package.json'),
      JSON.stringify({ name: 'pack-consumer', private: true, type: 'module' }),
    );
    await sh(
      'npm',
      [
        'install',
        '--offline',
        '--no-audit',
        '--no-fund',
        '--legacy-peer-deps',
        '--ignore-scripts',
        '--no-package-lock',
        tarball,
      ],
      app,
    );
    await linkPeers(join(app, 'node_modules'));
    await writeFile(join(app, 'tsconfig.json'), JSON.stringify(CONSUMER_TSCONFIG, null, 2));
    await writeFile(join(app, 'src', 'main.ts'), CONSUMER_MAIN);
    await writeFile(join(app, 'src', 'types.ts'), CONSUMER_TYPES);
  }, 5 * STEP_TIMEOUT);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('ships the ESM build and declarations, and no sources or tests', async () => {
    expect(packedFiles).toEqual(
      expect.arrayContaining([
        'package.json',
        'README.md',
        'dist/index.js',
        'dist/index.d.ts',
        'dist/redis/index.js',
        'dist/redis/index.d.ts',
        'dist/otel/index.js',
        'dist/otel/index.d.ts',
        'dist/terminus/index.js',
        'dist/terminus/index.d.ts',
      ]),
    );
    expect(
      packedFiles.filter(
        (f) => !f.startsWith('dist/') && f !== 'package.json' && !/^(README|LICENSE)/.test(f),
      ),
    ).toEqual([]);
    expect(packedFiles.filter((f) => /\.spec\.|\/test\//.test(f))).toEqual([]);
    const installed = JSON.parse(
      await readFile(join(app, 'node_modules', 'nestjs-orchestrator', 'package.json'), 'utf8'),
    ) as { type: string; exports: Record<string, unknown> };
    expect(installed.type).toBe('module');
    expect(Object.keys(installed.exports)).toEqual([
      '.',
      './redis',
      './otel',
      './terminus',
      './package.json',
    ]);
  });

  it('publishes no @internal declaration (tsconfig.build.json strips them)', async () => {
    const declarations = packedFiles.filter((f) => f.endsWith('.d.ts'));
    expect(declarations).toContain('dist/index.d.ts');
    const leaking: string[] = [];
    for (const file of declarations) {
      if ((await readFile(join(installedPackage(), file), 'utf8')).includes('@internal')) {
        leaking.push(file);
      }
    }
    expect(leaking).toEqual([]);
  });

  it('ships source maps that carry the sources they map (the sources are not shipped)', async () => {
    const maps = packedFiles.filter((f) => f.endsWith('.map'));
    expect(maps).toContain('dist/index.js.map');
    const unreadable: string[] = [];
    for (const map of maps) {
      const { sources, sourcesContent = [] } = JSON.parse(
        await readFile(join(installedPackage(), map), 'utf8'),
      ) as { sources: string[]; sourcesContent?: Array<string | null> };
      sources.forEach((source, i) => {
        const shipped = packedFiles.includes(posix.join(posix.dirname(map), source));
        if (typeof sourcesContent[i] !== 'string' && !shipped) unreadable.push(`${map}: ${source}`);
      });
    }
    expect(unreadable).toEqual([]);
    const indexMap = JSON.parse(
      await readFile(join(installedPackage(), 'dist/index.js.map'), 'utf8'),
    ) as { sourcesContent: string[] };
    expect(indexMap.sourcesContent).toEqual([await readFile(join(REPO, 'lib/index.ts'), 'utf8')]);
  });

  it(
    'compiles with tsc (nodenext, strict, library types checked) and runs with plain node',
    async () => {
      await sh(process.execPath, [TSC, '-p', 'tsconfig.json'], app);
      const { child, port } = await startApp();
      try {
        const base = `http://127.0.0.1:${port}`;
        const flaky = await fetch(`${base}/flaky/7`);
        expect(flaky.status).toBe(200);
        expect(await flaky.json()).toEqual({ id: '7', attempts: 2 }); // retried once

        const [a, b] = await Promise.all([fetch(`${base}/slow`), fetch(`${base}/slow`)]);
        expect([a.status, b.status].sort()).toEqual([200, 429]);
        const shed = a.status === 429 ? a : b;
        expect(Number(shed.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);

        const lookups = await Promise.all([1, 2, 3].map(() => fetch(`${base}/lookup/x`)));
        const bodies = await Promise.all(lookups.map((r) => r.json()));
        expect(bodies).toEqual(Array(3).fill({ id: 'x', executions: 1 }));

        const circuits = await fetch(`${base}/circuits`);
        expect(await circuits.json()).toEqual([{ name: 'downstream', state: 'closed' }]);
      } finally {
        child.kill('SIGTERM');
        await new Promise((done) =>
          child.exitCode !== null ? done(undefined) : child.once('exit', done),
        );
      }
    },
    STEP_TIMEOUT,
  );
});
