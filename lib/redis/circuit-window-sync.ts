import type {
  AdmittedCall,
  CircuitConfig,
  RecordRequest,
  TransitionListener,
} from '../circuit-breaker/circuit-breaker.store.js';
import { isSlow } from '../circuit-breaker/outcome-window.js';

/** What a sync sends: the circuit, the closed spell its outcomes belong to, and the outcomes. */
export interface WindowBatch {
  readonly circuit: string;
  readonly config: CircuitConfig;
  readonly epoch: number;
  /** A count window: one char per outcome; a time window: `age,calls,failures,slow;...`. */
  readonly outcomes: string;
  /** The listener of the newest outcome, told when this batch opens the circuit. */
  readonly onTransition?: TransitionListener;
}

/** Merges a batch into the fleet's window; settles once Redis answered (or failed). */
export type SendBatch = (batch: WindowBatch) => Promise<void>;

export const DEFAULT_SYNC_INTERVAL_MS = 100;

/** One time segment of a time window's pending outcomes. */
interface Segment {
  bucket: number;
  lastAt: number;
  calls: number;
  failures: number;
  slow: number;
}

/** The outcomes of one circuit not yet merged into the fleet's window. */
interface Pending {
  epoch: number;
  config: CircuitConfig;
  /** Count window: the newest outcomes' chars, at most `windowSize` of them. */
  chars: string;
  segments: Segment[];
  onTransition?: TransitionListener;
  timer?: ReturnType<typeof setTimeout>;
  /** The sync in flight, if any. */
  sending?: Promise<void>;
}

/** The closed spell this process knows a circuit is in, and its reusable admission. */
interface KnownClosed {
  readonly epoch: number;
  readonly closed: boolean;
  readonly admission: AdmittedCall;
}

/**
 * The closed path of a breaker that opens on window rates, without round trips: admission is
 * answered from the closed state this process last learned (from a reply or from pub/sub), and
 * an outcome only joins this process's pending batch. At most every `syncIntervalMs` per
 * circuit one script merges the batch into the fleet's window and returns its verdict; one sync
 * per circuit is in flight at a time, so a process's batches arrive in order. The fleet's
 * window thus lags each process by at most one interval (plus a round trip), and a process that
 * dies loses only its unsent batch.
 */
export class CircuitWindowSync {
  private readonly known = new Map<string, KnownClosed>();
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly send: SendBatch) {}

  /** The admission of a circuit known closed, or undefined when Redis must be asked. */
  closedAdmission(circuit: string): AdmittedCall | undefined {
    const known = this.known.get(circuit);
    return known?.closed ? known.admission : undefined;
  }

  /** A reply or a message told the circuit's state at `epoch`; an older one is ignored. */
  learn(circuit: string, epoch: number, closed: boolean): void {
    const known = this.known.get(circuit);
    if (known !== undefined && known.epoch > epoch) return;
    if (known !== undefined && known.epoch === epoch && known.closed === closed) return;
    const admission: AdmittedCall = { admitted: true, epoch, probe: false };
    this.known.set(circuit, { epoch, closed, admission });
  }

  /** Redis lost the state (restart, expiry): the next admission asks it again. */
  forget(circuit: string): void {
    this.known.delete(circuit);
  }

  /**
   * Adds a closed-path outcome to the pending batch; false when its epoch is not the closed
   * spell this process knows (a stale outcome: ignored, as the store would).
   */
  add(request: RecordRequest): boolean {
    const { circuit, config, admission, outcome } = request;
    const known = this.known.get(circuit);
    if (known === undefined || !known.closed || known.epoch !== admission.epoch) return false;
    if (outcome === 'ignored') return true;
    let pending = this.pending.get(circuit);
    if (pending === undefined || pending.epoch !== admission.epoch) {
      if (pending?.timer !== undefined) clearTimeout(pending.timer);
      pending = { epoch: admission.epoch, config, chars: '', segments: [] };
      this.pending.set(circuit, pending);
    }
    pending.config = config;
    pending.onTransition = request.onTransition;
    const slow = isSlow(config, request.durationMs);
    addOutcome(pending, outcome === 'failure', slow, performance.now());
    if (pending.timer === undefined && pending.sending === undefined) this.arm(circuit, pending);
    return true;
  }

  /** Sends every pending batch now (shutdown, tests); settles when Redis answered each. */
  async flush(): Promise<void> {
    await Promise.all([...this.pending.keys()].map((circuit) => this.sendNow(circuit)));
  }

  /** Drops everything (the store is closing). */
  clear(): void {
    for (const pending of this.pending.values()) clearTimeout(pending.timer);
    this.pending.clear();
    this.known.clear();
  }

  private arm(circuit: string, pending: Pending): void {
    const interval = pending.config.syncIntervalMs ?? DEFAULT_SYNC_INTERVAL_MS;
    pending.timer = setTimeout(() => void this.sendNow(circuit), interval);
    pending.timer.unref?.();
  }

  private async sendNow(circuit: string): Promise<void> {
    let pending = this.pending.get(circuit);
    while (pending?.sending !== undefined) {
      await pending.sending;
      pending = this.pending.get(circuit);
    }
    if (pending === undefined) return;
    clearTimeout(pending.timer);
    pending.timer = undefined;
    const outcomes = takeBatch(pending, performance.now());
    if (outcomes === '') return;
    const { epoch, config, onTransition } = pending;
    const sent = this.send({ circuit, config, epoch, outcomes, onTransition }).catch(() => {
      // Redis unreachable: this batch is lost to the fleet's window, as a crashed process's is.
    });
    pending.sending = sent;
    await sent;
    pending.sending = undefined;
    if (this.pending.get(circuit) === pending && hasOutcomes(pending)) this.arm(circuit, pending);
  }
}

function addOutcome(pending: Pending, failure: boolean, slow: boolean, now: number): void {
  const { windowMs, windowSize } = pending.config;
  if (windowMs === undefined) {
    const char = String((failure ? 1 : 0) + (slow ? 2 : 0));
    pending.chars += char;
    // Only the newest windowSize outcomes can be in the fleet's last windowSize calls.
    const size = windowSize ?? 20;
    if (pending.chars.length > 2 * size) pending.chars = pending.chars.slice(-size);
    return;
  }
  const bucket = Math.floor(now / (windowMs / 10));
  let segment = pending.segments[pending.segments.length - 1];
  if (segment === undefined || segment.bucket !== bucket) {
    segment = { bucket, lastAt: now, calls: 0, failures: 0, slow: 0 };
    pending.segments.push(segment);
  }
  segment.lastAt = now;
  segment.calls++;
  if (failure) segment.failures++;
  if (slow) segment.slow++;
}

function hasOutcomes(pending: Pending): boolean {
  return pending.chars !== '' || pending.segments.length > 0;
}

/**
 * Empties the pending outcomes into a batch. A time segment travels with its age (how long ago
 * its last call was), so Redis files it by its own clock whatever this process's clock says.
 */
function takeBatch(pending: Pending, now: number): string {
  if (pending.config.windowMs === undefined) {
    const size = pending.config.windowSize ?? 20;
    const chars = pending.chars.slice(-size);
    pending.chars = '';
    return chars;
  }
  const batch = pending.segments
    .map((s) => `${Math.max(0, Math.round(now - s.lastAt))},${s.calls},${s.failures},${s.slow}`)
    .join(';');
  pending.segments = [];
  return batch;
}
