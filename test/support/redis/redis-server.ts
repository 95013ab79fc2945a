import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis, type RedisOptions } from 'ioredis';
import { track, untrack } from './registry.js';

export { stopAllRedis } from './registry.js';

export const REDIS_HOST = '127.0.0.1';

const READY_LINE = 'Ready to accept connections';
const OUTPUT_TAIL_CHARS = 4000;
const PORT_RETRY_DELAY_MS = 100;
const PORT_RETRY_ATTEMPTS = 20;

/**
 * ioredis arms a `disconnectTimeout` timer (default 2 s) on every disconnect() and clears it only
 * when the socket closes. For a socket that is already closed (server killed) it never clears,
 * and Jest reports "did not exit one second after the test run". A short timeout bounds that.
 */
export const SHORT_DISCONNECT = { disconnectTimeout: 100 } as const;

export interface StartRedisOptions {
  /** Extra redis-server arguments, e.g. ['--maxmemory-policy', 'noeviction']. */
  args?: readonly string[];
  /** Fixed port; default: a free loopback port. */
  port?: number;
  /** Working directory (`--dir`); default: a fresh temp dir that stop() deletes. */
  dir?: string;
  /** Default 5000. */
  readyTimeoutMs?: number;
  /** Grace period after SIGTERM before stop() sends SIGKILL. Default 3000. */
  stopTimeoutMs?: number;
  /** Default 'redis-server' from PATH. */
  binary?: string;
}

export interface RedisServerHandle {
  readonly port: number;
  readonly url: string;
  /** Changes after restart(). */
  readonly pid: number;
  readonly dir: string;
  readonly running: boolean;
  /** SIGSTOP: the socket stays open but nothing answers. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** SIGKILL, resolves once the process has exited. */
  kill(): Promise<void>;
  /** Kills (if alive) and starts again on the same port and dir; data is gone. */
  restart(): Promise<void>;
  /** Graceful and idempotent; disconnects every client made by client(). */
  stop(): Promise<void>;
  client(options?: RedisOptions): Redis;
}

export class RedisStartError extends Error {
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(`${message}\n--- redis-server output (tail) ---\n${output}`);
    this.name = 'RedisStartError';
  }
}

interface ServerConfig {
  command: string;
  argv: readonly string[];
  port: number;
  dir: string;
  ownsDir: boolean;
  readyTimeoutMs: number;
  stopTimeoutMs: number;
}

interface Child {
  proc: ChildProcess;
  exited: Promise<void>;
}

// Outside Jest this kills leftovers on exit. Inside Jest `process` is a sandbox copy whose 'exit'
// never fires, so children are also spawned under `setpriv --pdeathsig KILL` (see launchCommand).
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => liveChildren.forEach((proc) => proc.kill('SIGKILL')));

export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServerHandle> {
  const command = findExecutable(options.binary ?? 'redis-server');
  if (!command) {
    throw new Error(
      `${options.binary ?? 'redis-server'} not found: apt-get install -y redis-server`,
    );
  }
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'redis-test-'));
  const base = {
    command,
    dir,
    ownsDir: options.dir === undefined,
    readyTimeoutMs: options.readyTimeoutMs ?? 5000,
    stopTimeoutMs: options.stopTimeoutMs ?? 3000,
  };
  try {
    const { config, child } = await launchOnSomePort(base, options);
    return new RedisServer(config, child);
  } catch (err) {
    if (base.ownsDir) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Distinct free loopback ports (all are held open until every one is picked). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, listenOnEphemeralPort));
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((done) => server.close(done))));
  return ports;
}

class RedisServer implements RedisServerHandle {
  private readonly clients = new Set<Redis>();
  private restarting?: Promise<void>;
  private stopping?: Promise<void>;

  constructor(
    private readonly config: ServerConfig,
    private child: Child,
  ) {
    track(this);
  }

  get port(): number {
    return this.config.port;
  }

  get url(): string {
    return `redis://${REDIS_HOST}:${this.port}`;
  }

  get pid(): number {
    return this.child.proc.pid ?? -1;
  }

  get dir(): string {
    return this.config.dir;
  }

  get running(): boolean {
    return isAlive(this.child.proc);
  }

  pause(): void {
    this.signal('SIGSTOP');
  }

  resume(): void {
    this.signal('SIGCONT');
  }

  async kill(): Promise<void> {
    this.signal('SIGKILL');
    await this.child.exited;
  }

  restart(): Promise<void> {
    if (this.stopping) return Promise.reject(new Error(`redis ${this.url} was stopped`));
    this.restarting ??= this.relaunch().finally(() => (this.restarting = undefined));
    return this.restarting;
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  client(options: RedisOptions = {}): Redis {
    const client = new Redis({
      host: REDIS_HOST,
      port: this.port,
      lazyConnect: false,
      maxRetriesPerRequest: 1,
      retryStrategy: () => 50,
      ...SHORT_DISCONNECT,
      ...options,
    });
    // Fault-injection tests cause connection errors on purpose; commands still reject, and without
    // a listener ioredis logs every one of them as an "Unhandled error event".
    client.on('error', () => {});
    this.clients.add(client);
    return client;
  }

  private async relaunch(): Promise<void> {
    await this.kill();
    // The old socket can linger briefly (TIME_WAIT, a reconnecting client); retry the same port.
    this.child = await launchWithRetry(this.config, PORT_RETRY_ATTEMPTS);
  }

  private async shutdown(): Promise<void> {
    untrack(this);
    this.clients.forEach(disconnectOnce);
    this.clients.clear();
    await this.restarting?.catch(() => {});
    await terminate(this.child, this.config.stopTimeoutMs);
    if (this.config.ownsDir) rmSync(this.config.dir, { recursive: true, force: true });
  }

  private signal(signal: NodeJS.Signals): void {
    if (isAlive(this.child.proc)) this.child.proc.kill(signal);
  }
}

type BaseConfig = Omit<ServerConfig, 'argv' | 'port'>;

async function launchOnSomePort(
  base: BaseConfig,
  options: StartRedisOptions,
): Promise<{ config: ServerConfig; child: Child }> {
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePorts(1))[0];
    const config = { ...base, port, argv: serverArgs(port, base.dir, options.args ?? []) };
    try {
      const attempts = options.port === undefined ? 1 : PORT_RETRY_ATTEMPTS;
      return { config, child: await launchWithRetry(config, attempts) };
    } catch (err) {
      // Another process may grab a free port between our probe and redis binding it.
      if (options.port !== undefined || attempt >= 3 || !isAddressInUse(err)) throw err;
    }
  }
}

function serverArgs(port: number, dir: string, extra: readonly string[]): string[] {
  const base = ['--port', String(port), '--bind', REDIS_HOST, '--save', '', '--appendonly', 'no'];
  return [...base, '--dir', dir, ...extra];
}

async function launchWithRetry(config: ServerConfig, attempts: number): Promise<Child> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await launch(config);
    } catch (err) {
      if (attempt >= attempts || !isAddressInUse(err)) throw err;
      await delay(PORT_RETRY_DELAY_MS);
    }
  }
}

async function launch(config: ServerConfig): Promise<Child> {
  const { file, args } = launchCommand(config.command, config.argv);
  const proc = spawn(file, args, { cwd: config.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  liveChildren.add(proc);
  // Created once per process and never detached, so nothing later can remove stop()'s wait.
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  void exited.then(() => liveChildren.delete(proc));
  try {
    await waitForReady(proc, config.readyTimeoutMs);
  } catch (err) {
    if (isAlive(proc) && proc.pid !== undefined) {
      proc.kill('SIGKILL');
      await exited;
    }
    liveChildren.delete(proc);
    throw err;
  }
  return { proc, exited };
}

function launchCommand(command: string, argv: readonly string[]): { file: string; args: string[] } {
  // setpriv execs redis-server in place (same pid); the kernel SIGKILLs it if Jest dies.
  const setpriv = findExecutable('setpriv');
  if (!setpriv) return { file: command, args: [...argv] };
  return { file: setpriv, args: ['--pdeathsig', 'KILL', command, ...argv] };
}

/** Resolves once on the ready line, then stops matching but keeps draining the pipes. */
function waitForReady(proc: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-OUTPUT_TAIL_CHARS);
      if (output.includes(READY_LINE)) settle();
    };
    // 'close' rather than 'exit': it comes after the pipes are drained, so the tail is complete.
    const onClose = (code: number | null, signal: string | null): void =>
      settle(`redis-server exited before it was ready (code ${code}, signal ${signal})`);
    const onError = (err: Error): void => settle(`redis-server failed to spawn: ${err.message}`);
    const timer = setTimeout(
      () => settle(`redis-server was not ready within ${timeoutMs} ms`),
      timeoutMs,
    );

    function settle(failure?: string): void {
      clearTimeout(timer);
      proc.stdout?.off('data', onData).resume();
      proc.stderr?.off('data', onData).resume();
      proc.off('close', onClose).off('error', onError);
      if (failure) reject(new RedisStartError(failure, output));
      else resolve();
    }

    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    proc.once('close', onClose).once('error', onError);
  });
}

async function terminate({ proc, exited }: Child, timeoutMs: number): Promise<void> {
  if (!isAlive(proc)) return;
  // A paused (SIGSTOPped) server would not act on SIGTERM until continued.
  proc.kill('SIGCONT');
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

/** A second disconnect() would arm another never-cleared timer (see SHORT_DISCONNECT). */
export function disconnectOnce(client: { status: string; disconnect(): void }): void {
  if (client.status !== 'end') client.disconnect();
}

function isAlive(proc: ChildProcess): boolean {
  return proc.exitCode === null && proc.signalCode === null;
}

function isAddressInUse(err: unknown): boolean {
  return err instanceof RedisStartError && err.output.includes('Address already in use');
}

function findExecutable(name: string): string | undefined {
  const candidates = name.includes('/')
    ? [name]
    : (process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, name));
  return candidates.find((candidate) => {
    try {
      accessSync(candidate, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function listenOnEphemeralPort(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, REDIS_HOST, () => resolve(server));
  });
}
