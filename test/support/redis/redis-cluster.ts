import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Cluster, type ClusterOptions, type Redis } from 'ioredis';
import { track, untrack } from './registry.js';
import {
  disconnectOnce,
  freePorts,
  REDIS_HOST,
  SHORT_DISCONNECT,
  startRedis,
  type RedisServerHandle,
} from './redis-server.js';
import { waitUntil } from './wait.js';

const execFileAsync = promisify(execFile);

export interface StartRedisClusterOptions {
  /** Default 3 (the minimum redis-cli accepts). */
  masters?: number;
  /**
   * Replicas per master (`--cluster-replicas`); default 0. With replicas, start-up also waits
   * until every replica has synced with its master, so a `failover()` can follow at once.
   */
  replicas?: number;
  /** Extra redis-server arguments for every node. */
  args?: readonly string[];
  /** `--cluster-node-timeout`; default 2000. */
  nodeTimeoutMs?: number;
  /** Budget for `redis-cli --cluster create` and for cluster_state:ok. Default 15000. */
  readyTimeoutMs?: number;
}

export interface ClusterStartupNode {
  host: string;
  port: number;
}

/** One line of `CLUSTER NODES`, as one node sees the cluster. */
export interface ClusterNodeView {
  readonly id: string;
  readonly port: number;
  readonly role: 'master' | 'replica';
  /** The id of its master, for a replica. */
  readonly masterId?: string;
  /** Slots it serves (expanded from its ranges), for a master. */
  readonly slots: ReadonlySet<number>;
  /** `fail`, `fail?`, `handshake`, `noaddr`... among the flags. */
  readonly flags: readonly string[];
}

export interface ClusterTopology {
  /** The node that was asked. */
  readonly observer: RedisServerHandle;
  readonly views: readonly ClusterNodeView[];
  /** The node serving `slot` according to the observer. */
  ownerOf(slot: number): RedisServerHandle;
  replicasOf(master: RedisServerHandle): RedisServerHandle[];
  idOf(node: RedisServerHandle): string;
  masters(): RedisServerHandle[];
}

export interface FailoverResult {
  readonly from: RedisServerHandle;
  readonly to: RedisServerHandle;
  /** From sending CLUSTER FAILOVER until the replica served the slot as a master. */
  readonly promotedMs: number;
  /** From sending CLUSTER FAILOVER until every node agreed on the new owner of the slot. */
  readonly ms: number;
}

/**
 * A slot being moved by hand, as `redis-cli --cluster reshard` does for each slot: IMPORTING on
 * the target and MIGRATING on the source, then MIGRATE of its keys, then SETSLOT NODE. Between
 * the steps the slot is in the state that makes clients see ASK and TRYAGAIN.
 */
export interface SlotMigration {
  readonly slot: number;
  readonly source: RedisServerHandle;
  readonly target: RedisServerHandle;
  /**
   * Moves keys still on the source: up to `selection` of them (a number; all by default), or the
   * named ones (those that exist). Resolves to how many were moved.
   */
  moveKeys(selection?: number | readonly string[]): Promise<number>;
  /** Moves the rest, assigns the slot to the target on every master, waits until all agree. */
  finish(): Promise<{ moved: number }>;
}

export interface RedisClusterHandle {
  readonly nodes: readonly RedisServerHandle[];
  readonly startupNodes: readonly ClusterStartupNode[];
  client(options?: ClusterOptions): Cluster;
  /** A plain (non-cluster) connection to one node, shared and closed by stop(). */
  admin(node: RedisServerHandle): Redis;
  /** The cluster as `observer` (default: the first running node) sees it, from CLUSTER NODES. */
  topology(observer?: RedisServerHandle): Promise<ClusterTopology>;
  /**
   * A manual `CLUSTER FAILOVER` on a replica of the master that owns `slot`; resolves once every
   * running node names that replica as the owner and the old master as its replica. Needs
   * `replicas >= 1`. Masters refuse to vote twice for one shard within 2 x node timeout, so a
   * second failover of the same shard sooner than that times out.
   */
  failover(slot: number, options?: { timeoutMs?: number }): Promise<FailoverResult>;
  /** Starts moving `slot` to `target` (IMPORTING/MIGRATING); see SlotMigration. */
  startSlotMigration(slot: number, target: RedisServerHandle): Promise<SlotMigration>;
  /** Moves `slot` and its keys to `target` in one go. */
  migrateSlot(slot: number, target: RedisServerHandle): Promise<{ moved: number }>;
  /** Idempotent; disconnects clients, stops every node and deletes their temp dirs. */
  stop(): Promise<void>;
}

/** How long the nodes may take to agree on a change (it spreads by gossip). */
const AGREEMENT_TIMEOUT_MS = 10_000;
/** Keys per MIGRATE, as redis-cli's default `--cluster-pipeline`. */
const MIGRATE_BATCH = 10;
const MIGRATE_TIMEOUT_MS = 5000;
const SLOTS = 16384;

export async function startRedisCluster(
  options: StartRedisClusterOptions = {},
): Promise<RedisClusterHandle> {
  const { masters = 3, replicas = 0, nodeTimeoutMs = 2000, readyTimeoutMs = 15000 } = options;
  // A replica's first sync would otherwise wait `repl-diskless-sync-delay` (5 s by default).
  const replicaArgs = replicas > 0 ? ['--repl-diskless-sync-delay', '0'] : [];
  const extraArgs = [...replicaArgs, ...(options.args ?? [])];
  const nodes = await startNodes(masters * (1 + replicas), nodeTimeoutMs, extraArgs);
  try {
    await createCluster(nodes, replicas, readyTimeoutMs);
    await waitForClusterOk(nodes, readyTimeoutMs);
    if (replicas > 0) await waitForReplicasInSync(nodes, masters, replicas, readyTimeoutMs);
  } catch (err) {
    await Promise.all(nodes.map((node) => node.stop()));
    throw err;
  }
  return new RedisCluster(nodes);
}

class RedisCluster implements RedisClusterHandle {
  readonly startupNodes: readonly ClusterStartupNode[];
  private readonly clients = new Set<Cluster>();
  private readonly admins = new Map<RedisServerHandle, Redis>();
  private stopping?: Promise<void>;

  constructor(readonly nodes: readonly RedisServerHandle[]) {
    this.startupNodes = nodes.map((node) => ({ host: REDIS_HOST, port: node.port }));
    track(this);
  }

  client(options: ClusterOptions = {}): Cluster {
    const { redisOptions, ...clusterOptions } = options;
    const client = new Cluster([...this.startupNodes], {
      // Leases and counters must be read from masters.
      scaleReads: 'master',
      clusterRetryStrategy: () => 50,
      ...clusterOptions,
      redisOptions: { maxRetriesPerRequest: 1, ...SHORT_DISCONNECT, ...redisOptions },
    });
    // Same reason as RedisServerHandle.client(): expected errors would be logged as unhandled.
    client.on('error', () => {});
    this.clients.add(client);
    return client;
  }

  admin(node: RedisServerHandle): Redis {
    let client = this.admins.get(node);
    if (client === undefined || client.status === 'end') {
      // No commandTimeout: MIGRATE and CLUSTER commands may take a moment on a busy machine.
      client = node.client({ maxRetriesPerRequest: 1 });
      this.admins.set(node, client);
    }
    return client;
  }

  async topology(observer?: RedisServerHandle): Promise<ClusterTopology> {
    const asked = observer ?? this.nodes.find((node) => node.running);
    if (asked === undefined) throw new Error('no cluster node is running');
    const text = (await this.admin(asked).call('CLUSTER', 'NODES')) as string;
    return new Topology(asked, parseClusterNodes(text), this.nodes);
  }

  async failover(slot: number, { timeoutMs = AGREEMENT_TIMEOUT_MS } = {}): Promise<FailoverResult> {
    const before = await this.topology();
    const from = before.ownerOf(slot);
    const [to] = before.replicasOf(from).filter((node) => node.running);
    if (to === undefined) throw new Error(`no running replica of ${from.url} to fail over to`);
    const toId = before.idOf(to);
    const startedAt = performance.now();
    await this.admin(to).call('CLUSTER', 'FAILOVER');
    await waitUntil(
      async () => {
        const mine = (await this.topology(to)).views.find((view) => view.flags.includes('myself'));
        return mine?.role === 'master' && mine.slots.has(slot);
      },
      { timeoutMs, intervalMs: 10, what: `${to.url} promoted by CLUSTER FAILOVER` },
    );
    const promotedMs = performance.now() - startedAt;
    await this.waitForOwner(slot, toId, `slot ${slot} served by ${to.url} after FAILOVER`, {
      timeoutMs,
    });
    // The old master turns into a replica of the new one, as every node must know before the
    // next failover or migration asks any of them.
    await this.waitForAll(
      (views) => views.find((view) => view.port === from.port)?.masterId === toId,
      `${from.url} known everywhere as a replica of ${to.url}`,
      timeoutMs,
    );
    return { from, to, promotedMs, ms: performance.now() - startedAt };
  }

  async startSlotMigration(slot: number, target: RedisServerHandle): Promise<SlotMigration> {
    checkSlot(slot);
    const topology = await this.topology();
    const source = topology.ownerOf(slot);
    if (source === target) throw new Error(`slot ${slot} is already served by ${target.url}`);
    const sourceId = topology.idOf(source);
    const targetId = topology.idOf(target);
    // The order redis-cli uses: the target accepts ASKING before the source starts redirecting.
    await this.admin(target).call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', sourceId);
    await this.admin(source).call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', targetId);
    let moved = 0;
    const sourceAdmin = this.admin(source);
    /** MIGRATE ignores a key the source lacks; resolves to false if it had none of them. */
    const migrate = async (keys: readonly string[]): Promise<boolean> => {
      const reply = await sourceAdmin.call(
        'MIGRATE',
        REDIS_HOST,
        target.port,
        '',
        0,
        MIGRATE_TIMEOUT_MS,
        'KEYS',
        ...keys,
      );
      // NOKEY: none of them exists (any more). Anything else but OK is an error reply (rejects).
      if (reply !== 'OK' && reply !== 'NOKEY') throw new Error(`MIGRATE replied ${String(reply)}`);
      return reply === 'OK';
    };
    // One MIGRATE per name, its reply telling whether the key was there. No EXISTS first: a
    // MIGRATING source answers a command on a key it lacks with ASK (MIGRATE is exempt), and
    // under load a key the caller expects (a holders set, say) may be briefly empty, so gone.
    const moveNamed = async (names: readonly string[]): Promise<number> => {
      const outside = names.filter((key) => keySlot(key) !== slot);
      if (outside.length > 0) throw new Error(`not in slot ${slot}: ${outside.join(', ')}`);
      let count = 0;
      for (const key of names) if (await migrate([key])) count++;
      return count;
    };
    const moveSome = async (limit: number): Promise<number> => {
      let count = 0;
      while (count < limit) {
        const batch = Math.min(MIGRATE_BATCH, limit - count);
        const keys = (await sourceAdmin.call('CLUSTER', 'GETKEYSINSLOT', slot, batch)) as string[];
        if (keys.length === 0) break;
        await migrate(keys);
        count += keys.length;
      }
      return count;
    };
    const moveKeys = async (selection: number | readonly string[] = Infinity): Promise<number> => {
      const count =
        typeof selection === 'number' ? await moveSome(selection) : await moveNamed(selection);
      moved += count;
      return count;
    };
    const finish = async (): Promise<{ moved: number }> => {
      await moveKeys();
      // Target first (so it serves the slot before the source redirects there), then the source,
      // then the other masters; replicas learn it from their masters.
      const masters = (await this.topology(source)).masters();
      const rest = masters.filter((node) => node !== source && node !== target);
      for (const node of [target, source, ...rest]) {
        await this.admin(node).call('CLUSTER', 'SETSLOT', slot, 'NODE', targetId);
      }
      await this.waitForOwner(slot, targetId, `slot ${slot} served by ${target.url}`);
      return { moved };
    };
    return { slot, source, target, moveKeys, finish };
  }

  async migrateSlot(slot: number, target: RedisServerHandle): Promise<{ moved: number }> {
    return (await this.startSlotMigration(slot, target)).finish();
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  /** Every running node names `ownerId` as the master serving `slot`. */
  private waitForOwner(
    slot: number,
    ownerId: string,
    what: string,
    { timeoutMs = AGREEMENT_TIMEOUT_MS } = {},
  ): Promise<void> {
    return this.waitForAll(
      (views) => {
        const owner = views.find((view) => view.slots.has(slot));
        return owner?.id === ownerId && owner.role === 'master';
      },
      what,
      timeoutMs,
    );
  }

  private async waitForAll(
    agrees: (views: readonly ClusterNodeView[]) => boolean,
    what: string,
    timeoutMs: number,
  ): Promise<void> {
    await waitUntil(
      async () => {
        const running = this.nodes.filter((node) => node.running);
        const topologies = await Promise.all(running.map((node) => this.topology(node)));
        return topologies.every((topology) => agrees(topology.views));
      },
      { timeoutMs, intervalMs: 20, what },
    );
  }

  private async shutdown(): Promise<void> {
    untrack(this);
    this.clients.forEach(disconnectOnce);
    this.clients.clear();
    this.admins.clear();
    await Promise.all(this.nodes.map((node) => node.stop()));
  }
}

class Topology implements ClusterTopology {
  constructor(
    readonly observer: RedisServerHandle,
    readonly views: readonly ClusterNodeView[],
    private readonly nodes: readonly RedisServerHandle[],
  ) {}

  ownerOf(slot: number): RedisServerHandle {
    checkSlot(slot);
    const view = this.views.find((v) => v.role === 'master' && v.slots.has(slot));
    if (view === undefined)
      throw new Error(`no node serves slot ${slot} (asked ${this.observer.url})`);
    return this.handleOf(view);
  }

  replicasOf(master: RedisServerHandle): RedisServerHandle[] {
    const id = this.idOf(master);
    return this.views.filter((v) => v.masterId === id).map((v) => this.handleOf(v));
  }

  idOf(node: RedisServerHandle): string {
    const view = this.views.find((v) => v.port === node.port);
    if (view === undefined) throw new Error(`${node.url} is not in the cluster`);
    return view.id;
  }

  masters(): RedisServerHandle[] {
    return this.views.filter((v) => v.role === 'master').map((v) => this.handleOf(v));
  }

  private handleOf(view: ClusterNodeView): RedisServerHandle {
    const node = this.nodes.find((n) => n.port === view.port);
    if (node === undefined) throw new Error(`node ${view.id} (port ${view.port}) is not ours`);
    return node;
  }
}

/** `<id> <ip:port@cport[,hostname]> <flags> <master|-> <ping> <pong> <epoch> <link> <slots...>` */
export function parseClusterNodes(text: string): ClusterNodeView[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .map((line) => {
      const [id, address, flagList, master, , , , , ...slotFields] = line.split(' ');
      const flags = flagList.split(',');
      const port = Number(/:(\d+)@/.exec(address)?.[1]);
      const slots = new Set<number>();
      for (const field of slotFields) {
        // `[slot->-id]` / `[slot-<-id]`: migration markers, not ownership.
        if (field.startsWith('[')) continue;
        const [first, last = first] = field.split('-').map(Number);
        for (let slot = first; slot <= last; slot++) slots.add(slot);
      }
      const role = flags.includes('master') ? 'master' : 'replica';
      return {
        id,
        port,
        role,
        masterId: master === '-' ? undefined : master,
        slots,
        flags,
      } satisfies ClusterNodeView;
    });
}

/** The hash slot of a key, as CLUSTER KEYSLOT computes it (CRC16/XMODEM, hash tags honoured). */
export function keySlot(key: string): number {
  let bytes = Buffer.from(key);
  const open = bytes.indexOf('{');
  if (open >= 0) {
    const close = bytes.indexOf('}', open + 1);
    if (close > open + 1) bytes = bytes.subarray(open + 1, close);
  }
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % SLOTS;
}

function checkSlot(slot: number): void {
  if (!Number.isInteger(slot) || slot < 0 || slot >= SLOTS) throw new Error(`not a slot: ${slot}`);
}

async function startNodes(
  count: number,
  nodeTimeoutMs: number,
  extraArgs: readonly string[],
): Promise<RedisServerHandle[]> {
  const ports = await freePorts(count);
  const started = await Promise.allSettled(
    ports.map((port) =>
      startRedis({ port, args: [...clusterArgs(port, nodeTimeoutMs), ...extraArgs] }),
    ),
  );
  const nodes = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failure = started.find((result) => result.status === 'rejected');
  if (failure) {
    await Promise.all(nodes.map((node) => node.stop()));
    throw failure.reason;
  }
  return nodes;
}

function clusterArgs(port: number, nodeTimeoutMs: number): string[] {
  return [
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    `nodes-${port}.conf`,
    '--cluster-node-timeout',
    String(nodeTimeoutMs),
  ];
}

async function createCluster(
  nodes: readonly RedisServerHandle[],
  replicas: number,
  timeoutMs: number,
): Promise<void> {
  const addresses = nodes.map((node) => `${REDIS_HOST}:${node.port}`);
  const args = [
    '--cluster',
    'create',
    ...addresses,
    '--cluster-replicas',
    String(replicas),
    '--cluster-yes',
  ];
  try {
    await execFileAsync('redis-cli', args, { timeout: timeoutMs });
  } catch (err) {
    throw new Error(`redis-cli --cluster create failed: ${describeExecError(err)}`, { cause: err });
  }
}

function describeExecError(err: unknown): string {
  const { message, stdout = '', stderr = '' } = err as Error & { stdout?: string; stderr?: string };
  return `${message}\n${stdout}${stderr}`;
}

async function waitForClusterOk(
  nodes: readonly RedisServerHandle[],
  timeoutMs: number,
): Promise<void> {
  await Promise.all(
    nodes.map(async (node) => {
      const probe = node.client();
      try {
        await waitUntil(async () => (await probe.cluster('INFO')).includes('cluster_state:ok'), {
          timeoutMs,
          what: `cluster_state:ok on ${node.url}`,
        });
      } finally {
        probe.disconnect();
      }
    }),
  );
}

/**
 * Every replica reports its link to its master up (its first sync done), and every node sees
 * `masters` masters serving slots and `masters * replicas` replicas of them (gossip lags behind
 * `redis-cli --cluster create`, and a failover needs the masters to know the replica).
 */
async function waitForReplicasInSync(
  nodes: readonly RedisServerHandle[],
  masters: number,
  replicas: number,
  timeoutMs: number,
): Promise<void> {
  const probes = nodes.map((node) => node.client());
  const agrees = (views: ClusterNodeView[]): boolean => {
    const owners = views.filter((view) => view.role === 'master' && view.slots.size > 0);
    const ownerIds = new Set(owners.map((view) => view.id));
    const followers = views.filter((view) => view.role === 'replica');
    const healthy = views.every((view) => !view.flags.some((flag) => flag.startsWith('fail')));
    return (
      healthy &&
      owners.length === masters &&
      followers.length === masters * replicas &&
      followers.every((view) => ownerIds.has(view.masterId ?? ''))
    );
  };
  try {
    await waitUntil(
      async () => {
        const infos = await Promise.all(probes.map((probe) => probe.info('replication')));
        const linked = infos.filter((info) => info.includes('master_link_status:up')).length;
        if (linked !== masters * replicas) return false;
        const texts = await Promise.all(probes.map((probe) => probe.call('CLUSTER', 'NODES')));
        return texts.every((text) => agrees(parseClusterNodes(text as string)));
      },
      {
        timeoutMs,
        intervalMs: 50,
        what: `${masters * replicas} replicas known to every node and in sync`,
      },
    );
  } finally {
    probes.forEach((probe) => probe.disconnect());
  }
}
