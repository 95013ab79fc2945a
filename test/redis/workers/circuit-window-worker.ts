import type {
  CircuitConfig,
  CircuitTransition,
} from '../../../lib/circuit-breaker/circuit-breaker.store.js';
import { RedisBackend, RedisCircuitBreakerStore } from '../../../lib/redis/index.js';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { connect, serve } from './worker-runtime.js';

/*
 * A process of the window fleet test: it runs calls on a breaker that opens on the failure rate
 * of a window, counts its round trips, and says when it learned that the circuit opened.
 */

let store: RedisCircuitBreakerStore;
let roundTrips = 0;
const heard: CircuitTransition[] = [];
const onTransition = (transition: CircuitTransition) => heard.push(transition);

function countRoundTrips(backend: RedisBackend): void {
  const run = backend.run.bind(backend);
  backend.run = (...args) => {
    roundTrips++;
    return run(...args);
  };
}

/** Wall time unaffected by the worker's skewed Date.now(): comparable across the fleet. */
const wallNow = () => performance.timeOrigin + performance.now();
const tick = () => new Promise((resolve) => setTimeout(resolve, 1));
/** How late this process ran its timers: on a loaded machine, a sync or a watch runs late. */
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

serve(
  (init) => {
    const backend = new RedisBackend(connect(init.connection), {
      keyPrefix: init.keyPrefix,
      checkClient: false,
      logger: { warn: () => undefined },
    });
    countRoundTrips(backend);
    store = new RedisCircuitBreakerStore(backend);
  },
  {
    /** `failures` failing calls then `successes` succeeding ones; when the last one ended. */
    async calls({ circuit, config, failures, successes }) {
      const before = roundTrips;
      const outcomes = [
        ...Array<'failure'>(failures).fill('failure'),
        ...Array<'success'>(successes).fill('success'),
      ];
      for (const outcome of outcomes) {
        const admission = await store.admit({ circuit, config });
        if (!admission.admitted) throw new Error('refused while closed');
        await store.record({ circuit, config, admission, outcome, onTransition });
      }
      return { endedAt: wallNow(), roundTrips: roundTrips - before };
    },
    /** Admits until refused (each admit answered locally); when, and whether it cost a trip. */
    async watch({ circuit, config, timeoutMs }: { circuit: string; config: CircuitConfig } & any) {
      const deadline = wallNow() + timeoutMs;
      while (wallNow() < deadline) {
        const before = roundTrips;
        const admission = await store.admit({ circuit, config });
        if (!admission.admitted) {
          return { learnedAt: wallNow(), roundTrip: roundTrips > before };
        }
        await store.record({ circuit, config, admission, outcome: 'ignored' });
        await tick();
      }
      throw new Error(`still closed after ${timeoutMs} ms`);
    },
    snapshot: ({ circuit, config }) => store.snapshot({ circuit, config }),
    heard: () => heard.splice(0),
    roundTrips: () => roundTrips,
    /** The longest event-loop delay since the last ask, in ms. */
    loopDelay: () => {
      const ms = loopDelay.max / 1e6;
      loopDelay.reset();
      return ms;
    },
  },
);
