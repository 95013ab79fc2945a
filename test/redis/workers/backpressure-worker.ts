import {
  BackpressureGuard,
  type BackpressurePermit,
} from '../../../lib/backpressure/backpressure.policy.js';
import { RedisBackpressureStore } from '../../../lib/redis/index.js';
import type { WorkerInit } from '../fleet.js';
import { connect, report, serve, sleep } from './worker-runtime.js';

interface BackpressureInit extends WorkerInit {
  capacity: number;
  leaseMs: number;
  replicasHint?: number;
  operationTimeoutMs?: number;
}

/** How a `load` may set up its store differently from the worker's init. */
interface StoreVariant {
  replicasHint?: number;
  failClosed?: boolean;
}

let connection: ReturnType<typeof connect>;
let settings: BackpressureInit;
const stores = new Map<string, RedisBackpressureStore>();
const guards = new Map<string, BackpressureGuard>();
const held: BackpressurePermit[] = [];

/** One store (and backend) per variant, all on the worker's one client. */
function storeFor(variant: StoreVariant = {}): RedisBackpressureStore {
  const replicasHint = variant.replicasHint ?? settings.replicasHint ?? 1;
  const failClosed = variant.failClosed ?? false;
  const id = `${replicasHint}|${failClosed}`;
  let store = stores.get(id);
  if (store === undefined) {
    store = new RedisBackpressureStore(connection, {
      keyPrefix: settings.keyPrefix,
      checkClient: false,
      logger: { warn: () => undefined },
      replicasHint,
      failClosed,
      operationTimeoutMs: settings.operationTimeoutMs ?? 500,
      degradedCooldownMs: 300,
    });
    stores.set(id, store);
  }
  return store;
}

function guardFor(name: string, maxWaitMs: number, variant?: StoreVariant): BackpressureGuard {
  const id = `${name}|${maxWaitMs}|${JSON.stringify(variant ?? {})}`;
  let guard = guards.get(id);
  if (guard === undefined) {
    const { capacity, leaseMs } = settings;
    guard = new BackpressureGuard({ capacity, leaseMs, maxWaitMs }, storeFor(variant), { name });
    guards.set(id, guard);
  }
  return guard;
}

/** Holds a slot for `holdMs`, telling the observer when it enters and leaves. */
async function holdFor(permit: BackpressurePermit, holdMs: number): Promise<void> {
  await report({ type: 'enter' });
  await sleep(holdMs);
  await report({ type: 'exit' });
  permit.release();
}

serve(
  (init) => {
    settings = init as BackpressureInit;
    connection = connect(init.connection);
    storeFor();
  },
  {
    /**
     * `callers` loops, each taking a slot (waiting up to `maxWaitMs`) and holding it for a
     * random time, for `durationMs`. Answers grants, sheds, the slowest decision, and the
     * longest time between two grants of this process (how long it was passed over).
     */
    async load({ name, callers, durationMs, holdMs = [5, 15], maxWaitMs = 0, variant }) {
      const guard = guardFor(name, maxWaitMs, variant);
      const until = performance.now() + durationMs;
      let granted = 0;
      let shed = 0;
      let slowestMs = 0;
      let lastGrantAt = performance.now();
      let longestGapMs = 0;
      const caller = async () => {
        while (performance.now() < until) {
          const started = performance.now();
          const permit = await guard.acquire().catch(() => undefined);
          slowestMs = Math.max(slowestMs, performance.now() - started);
          if (permit === undefined) {
            shed++;
            await sleep(5);
            continue;
          }
          granted++;
          longestGapMs = Math.max(longestGapMs, performance.now() - lastGrantAt);
          lastGrantAt = performance.now();
          await holdFor(permit, holdMs[0] + Math.random() * (holdMs[1] - holdMs[0]));
        }
      };
      await Promise.all(Array.from({ length: callers }, caller));
      return { granted, shed, slowestMs, longestGapMs };
    },
    /** Takes up to `n` slots now and keeps them (renewed by the guard) until `releaseAll`. */
    async hold({ name, n }) {
      const guard = guardFor(name, 0);
      let taken = 0;
      for (let i = 0; i < n; i++) {
        const permit = await guard.acquire().catch(() => undefined);
        if (permit === undefined) break;
        held.push(permit);
        taken++;
      }
      return taken;
    },
    releaseAll() {
      held.splice(0).forEach((permit) => permit.release());
    },
    depth: ({ name }) => guardFor(name, 0).depth(),
  },
);
