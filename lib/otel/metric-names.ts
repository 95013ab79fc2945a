/** The meter every instrument of the library belongs to. */
export const ORCHESTRATOR_METER_NAME = 'nestjs-orchestrator';

/**
 * Every instrument the library records, by name. Counters count events, histograms time calls
 * (seconds), gauges are read at each collection. Attributes are listed in
 * docs/observability.md.
 *
 * @publicApi
 */
export const ORCHESTRATOR_METRICS = {
  /** Counter `{policy, method, outcome}`: decorated method calls; outcome success, failure or rejected. */
  calls: 'orchestrator.calls',
  /** Histogram (s) `{policy, method, outcome}`: a decorated method call, retries and waits included. */
  callDuration: 'orchestrator.call.duration',
  /** Counter `{policy}`: retries scheduled after a failed attempt. */
  retries: 'orchestrator.retries',
  /** Counter `{policy}`: calls that failed after their last attempt. */
  retriesExhausted: 'orchestrator.retry.exhausted',
  /** Counter `{circuit}`: calls an open (or probing) circuit refused. */
  circuitRejections: 'orchestrator.circuit.rejections',
  /** Counter `{circuit, from, to}`: circuit state transitions. */
  circuitTransitions: 'orchestrator.circuit.transitions',
  /** Gauge `{circuit, state}`: 1 for the circuit's current state, 0 for the two others. */
  circuitState: 'orchestrator.circuit.state',
  /** Counter `{guard, waited}`: calls backpressure refused. */
  sheds: 'orchestrator.backpressure.sheds',
  /** Gauge `{guard}`: slots held now. */
  backpressureDepth: 'orchestrator.backpressure.depth',
  /** Gauge `{guard}`: the guard's hard capacity. */
  backpressureCapacity: 'orchestrator.backpressure.capacity',
  /** Counter `{dedupe, source}`: calls answered without an execution (in-flight or cache). */
  dedupeHits: 'orchestrator.dedupe.hits',
  /** Counter `{dedupe, outcome}`: executions dedupe let run. */
  dedupeExecutions: 'orchestrator.dedupe.executions',
  /** Counter `{limiter, reason}`: calls a rate limiter refused (limit or provider cooldown). */
  rateLimitRefusals: 'orchestrator.rate_limit.refusals',
  /** Counter `{limiter}`: tokens charged to a limiter. */
  rateLimitTokens: 'orchestrator.rate_limit.tokens',
  /** Gauge `{limiter, unit}`: requests or tokens free now (0 during a cooldown). */
  rateLimitAvailable: 'orchestrator.rate_limit.available',
  /** Histogram (s) `{pipeline, outcome}`: a pipeline run. */
  pipelineDuration: 'orchestrator.pipeline.duration',
  /** Histogram (s) `{pipeline, stage, outcome}`: one stage of a pipeline run. */
  stageDuration: 'orchestrator.pipeline.stage.duration',
  /** Counter `{primitive, operation}`: store failures the policies survived. */
  storeErrors: 'orchestrator.store.errors',
} as const;
