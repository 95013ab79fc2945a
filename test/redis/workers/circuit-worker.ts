import type {
  AdmittedCall,
  CircuitAdmission,
  CircuitConfig,
} from '../../../lib/circuit-breaker/circuit-breaker.store.js';
import { RedisBackend, RedisCircuitBreakerStore } from '../../../lib/redis/index.js';
import type { WorkerInit } from '../fleet.js';
import { connect, serve } from './worker-runtime.js';

interface CircuitInit extends WorkerInit {
  config: CircuitConfig;
}

let store: RedisCircuitBreakerStore;
let config: CircuitConfig;
let roundTrips = 0;
const held: AdmittedCall[] = [];

/** Counts the store's round trips by wrapping the backend's one entry point. */
function countRoundTrips(backend: RedisBackend): void {
  const run = backend.run.bind(backend);
  backend.run = (...args) => {
    roundTrips++;
    return run(...args);
  };
}

function summarize(admission: CircuitAdmission) {
  return {
    admitted: admission.admitted,
    probe: admission.admitted && admission.probe,
    epoch: admission.admitted ? admission.epoch : undefined,
    transition: admission.transition,
  };
}

/** One admit; says whether it cost a round trip (a cached open circuit costs none). */
async function admitOnce(circuit: string) {
  const before = roundTrips;
  const admission = await store.admit({ circuit, config });
  if (admission.admitted) held.push(admission);
  return { ...summarize(admission), roundTrip: roundTrips > before, at: Date.now() };
}

serve(
  (init) => {
    config = (init as CircuitInit).config;
    const backend = new RedisBackend(connect(init.connection), {
      keyPrefix: init.keyPrefix,
      checkClient: false,
      logger: { warn: () => undefined },
    });
    countRoundTrips(backend);
    store = new RedisCircuitBreakerStore(backend);
  },
  {
    /** Calls that fail, one after another, until the circuit rejects or `n` ran. */
    async fail({ circuit, n }) {
      const results = [];
      for (let i = 0; i < n; i++) {
        const admission = await store.admit({ circuit, config });
        if (!admission.admitted) {
          results.push(summarize(admission));
          break;
        }
        const transition = await store.record({ circuit, config, admission, outcome: 'failure' });
        results.push({ ...summarize(admission), recorded: transition });
      }
      return results;
    },
    admit: ({ circuit }) => admitOnce(circuit),
    /** `n` concurrent admits; admitted calls are held until `settle`. */
    async burst({ circuit, n }) {
      return Promise.all(Array.from({ length: n }, () => admitOnce(circuit)));
    },
    async settle({ circuit, outcome }) {
      const calls = held.splice(0);
      return Promise.all(
        calls.map((call) => store.record({ circuit, config, admission: call, outcome })),
      );
    },
    snapshot: ({ circuit }) => store.snapshot({ circuit, config }),
    roundTrips: () => roundTrips,
  },
);
