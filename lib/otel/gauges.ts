import type { BatchObservableResult, Meter, Observable } from '@opentelemetry/api';
import { backpressureKind } from '../backpressure/backpressure.kind.js';
import { circuitBreakerKind } from '../circuit-breaker/circuit-breaker.kind.js';
import type { CircuitState } from '../core/events.js';
import type { PolicyEngine } from '../core/policy-engine.js';
import { rateLimitKind } from '../rate-limit/rate-limit.kind.js';
import { ORCHESTRATOR_METRICS as M } from './metric-names.js';

const STATES: readonly CircuitState[] = ['closed', 'half-open', 'open'];

/**
 * The gauges, read at each collection from the application's primitives. A circuit's state
 * comes from the transitions the recorder saw; a circuit it never saw move is read once from
 * its store. Depths and rate-limit capacity are read from the stores (a round trip each on
 * Redis, once per scrape, never per call).
 */
export class OrchestratorGauges {
  private readonly circuitState: Observable;
  private readonly depth: Observable;
  private readonly capacity: Observable;
  private readonly available: Observable;
  private readonly callback = (result: BatchObservableResult) => this.observe(result);

  constructor(
    private readonly meter: Meter,
    private readonly engine: PolicyEngine,
    private readonly circuitStates: Map<string, CircuitState>,
  ) {
    this.circuitState = meter.createObservableGauge(M.circuitState, {
      description: 'Circuit state: 1 for the current state, 0 for the others',
    });
    this.depth = meter.createObservableGauge(M.backpressureDepth, {
      description: 'Backpressure slots held',
      unit: '{slot}',
    });
    this.capacity = meter.createObservableGauge(M.backpressureCapacity, {
      description: 'Backpressure hard capacity',
      unit: '{slot}',
    });
    this.available = meter.createObservableGauge(M.rateLimitAvailable, {
      description: 'Rate-limit capacity free now',
    });
    meter.addBatchObservableCallback(this.callback, this.observables());
  }

  /** Stops reporting (the meter provider may outlive the application). */
  close(): void {
    this.meter.removeBatchObservableCallback(this.callback, this.observables());
  }

  private observables(): Observable[] {
    return [this.circuitState, this.depth, this.capacity, this.available];
  }

  private async observe(result: BatchObservableResult): Promise<void> {
    await Promise.all([
      this.observeCircuits(result),
      this.observeGuards(result),
      this.observeLimiters(result),
    ]);
  }

  private async observeCircuits(result: BatchObservableResult): Promise<void> {
    for (const circuit of this.engine.names(circuitBreakerKind)) {
      let state = this.circuitStates.get(circuit);
      if (state === undefined) {
        state = await this.engine.lookup(circuitBreakerKind, circuit).state();
        if (!this.circuitStates.has(circuit)) this.circuitStates.set(circuit, state);
      }
      for (const candidate of STATES) {
        result.observe(this.circuitState, candidate === state ? 1 : 0, {
          circuit,
          state: candidate,
        });
      }
    }
  }

  private async observeGuards(result: BatchObservableResult): Promise<void> {
    for (const guard of this.engine.names(backpressureKind)) {
      const primitive = this.engine.existing(backpressureKind, guard);
      if (primitive === undefined) continue;
      result.observe(this.capacity, primitive.hardCapacity(), { guard });
      result.observe(this.depth, await primitive.depth(), { guard });
    }
  }

  private async observeLimiters(result: BatchObservableResult): Promise<void> {
    for (const limiter of this.engine.names(rateLimitKind)) {
      const primitive = this.engine.existing(rateLimitKind, limiter);
      if (primitive === undefined) continue;
      const units = await primitive.available();
      if (units.requests !== undefined) {
        result.observe(this.available, units.requests, { limiter, unit: 'requests' });
      }
      if (units.tokens !== undefined) {
        result.observe(this.available, units.tokens, { limiter, unit: 'tokens' });
      }
    }
  }
}
