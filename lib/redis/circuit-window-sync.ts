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
  /**
   * Count window: the newest outcomes (0-3: bit 1 failure, bit 2 slow) in a ring of `windowSize`
   * (only they can be in the fleet's last `windowSize` calls), `held` of them, the next at `next`.
   * A ring, not a string: appending to a string allocates on every call.
   */
  ring: Uint8Array | undefined;
  next: number;
  held: number;
  segments: Segment[];
  onTransition?: TransitionListener;
  timer?: ReturnType<typeof setTimeout>;
  /** The sync in flight, if any. */
  sending?: Promise<void>;
}

/** What this process holds of one circuit: the closed spell it knows of, its unsent outcomes. */
interface CircuitSync {
  known: KnownClosed | undefined;
  pending: Pending | undefined;
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
  /** One entry per circuit this process heard of (bounded by the fleet's names), until `clear`. */
  private readonly circuits = new Map<string, CircuitSync>();
  private lastCircuit: string | undefined;
  private lastEntry: CircuitSync | undefined;

  constructor(private readonly send: SendBatch) {}

  /** The admission of a circuit known closed, or undefined when Redis must be asked. */
  closedAdmission(circuit: string): AdmittedCall | undefined {
    const known = this.entry(circuit).known;
    return known?.closed ? known.admission : undefined;
  }

  /** A reply or a message told the circuit's state at `epoch`; an older one is ignored. */
  learn(circuit: string, epoch: number, closed: boolean): void {
    const entry = this.entry(circuit);
    const known = entry.known;
    if (known !== undefined && known.epoch > epoch) return;
    if (known !== undefined && known.epoch === epoch && known.closed === closed) return;
    const admission: AdmittedCall = { admitted: true, epoch, probe: false };
    entry.known = { epoch, closed, admission };
  }

  /** Redis lost the state (restart, expiry): the next admission asks it again. */
  forget(circuit: string): void {
    this.entry(circuit).known = undefined;
  }

  /**
   * Adds a closed-path outcome to the pending batch; false when its epoch is not the closed
   * spell this process knows (a stale outcome: ignored, as the store would).
   */
  add(request: RecordRequest): boolean {
    const { circuit, config, admission, outcome } = request;
    const entry = this.entry(circuit);
    const known = entry.known;
    if (known === undefined || !known.closed || known.epoch !== admission.epoch) return false;
    if (outcome === 'ignored') return true;
    let pending = entry.pending;
    if (pending === undefined || pending.epoch !== admission.epoch) {
      if (pending?.timer !== undefined) clearTimeout(pending.timer);
      pending = { epoch: admission.epoch, config, ring: undefined, next: 0, held: 0, segments: [] };
      entry.pending = pending;
    }
    pending.config = config;
    pending.onTransition = request.onTransition;
    const slow = isSlow(config, request.durationMs);
    addOutcome(pending, outcome === 'failure', slow);
    if (pending.timer === undefined && pending.sending === undefined) this.arm(circuit, pending);
    return true;
  }

  /** Sends every pending batch now (shutdown, tests); settles when Redis answered each. */
  async flush(): Promise<void> {
    const circuits = [...this.circuits].filter(([, entry]) => entry.pending !== undefined);
    await Promise.all(circuits.map(([circuit]) => this.sendNow(circuit)));
  }

  /** Drops everything (the store is closing); a sync still in flight arms no timer after it. */
  clear(): void {
    for (const entry of this.circuits.values()) {
      clearTimeout(entry.pending?.timer);
      entry.pending = entry.known = undefined;
    }
    this.circuits.clear();
    this.lastCircuit = this.lastEntry = undefined;
  }

  private arm(circuit: string, pending: Pending): void {
    const interval = pending.config.syncIntervalMs ?? DEFAULT_SYNC_INTERVAL_MS;
    pending.timer = setTimeout(() => void this.sendNow(circuit), interval);
    pending.timer.unref?.();
  }

  private async sendNow(circuit: string): Promise<void> {
    const entry = this.entry(circuit);
    let pending = entry.pending;
    while (pending?.sending !== undefined) {
      await pending.sending;
      pending = entry.pending;
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
    if (entry.pending === pending && hasOutcomes(pending)) this.arm(circuit, pending);
  }

  /**
   * Every admission and outcome looks its circuit up, nearly always the same one as the call
   * before: remembering the last lookup skips the hash (entries leave only with `clear`).
   */
  private entry(circuit: string): CircuitSync {
    if (circuit === this.lastCircuit) return this.lastEntry!;
    let entry = this.circuits.get(circuit);
    if (entry === undefined) {
      entry = { known: undefined, pending: undefined };
      this.circuits.set(circuit, entry);
    }
    this.lastCircuit = circuit;
    this.lastEntry = entry;
    return entry;
  }
}

/** The char of an outcome in a count window's batch: bit 1 failure, bit 2 slow. */
const OUTCOME_CHARS = ['0', '1', '2', '3'];

/** Only a time window reads the clock: on the closed path a reading costs 20 to 60 ns. */
function addOutcome(pending: Pending, failure: boolean, slow: boolean): void {
  const { windowMs, windowSize } = pending.config;
  if (windowMs === undefined) {
    const ring = ringOf(pending, windowSize ?? 20);
    ring[pending.next] = (failure ? 1 : 0) + (slow ? 2 : 0);
    if (++pending.next === ring.length) pending.next = 0;
    if (pending.held < ring.length) pending.held++;
    return;
  }
  const now = performance.now();
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

/** The pending ring, made at the first outcome; remade keeping the newest if the size changed. */
function ringOf(pending: Pending, size: number): Uint8Array {
  const ring = pending.ring;
  if (ring !== undefined && ring.length === size) return ring;
  const resized = new Uint8Array(size);
  const kept = Math.min(pending.held, size);
  for (let i = 0; i < kept; i++)
    resized[i] = ring![(pending.next - kept + i + ring!.length) % ring!.length];
  pending.ring = resized;
  pending.held = kept;
  pending.next = kept % size;
  return resized;
}

function hasOutcomes(pending: Pending): boolean {
  return pending.held > 0 || pending.segments.length > 0;
}

/**
 * Empties the pending outcomes into a batch. A time segment travels with its age (how long ago
 * its last call was), so Redis files it by its own clock whatever this process's clock says.
 */
function takeBatch(pending: Pending, now: number): string {
  if (pending.config.windowMs === undefined) {
    const { ring, held, next } = pending;
    let chars = '';
    for (let i = held; i > 0 && ring !== undefined; i--) {
      chars += OUTCOME_CHARS[ring[(next - i + ring.length) % ring.length]];
    }
    pending.held = 0;
    return chars;
  }
  const batch = pending.segments
    .map((s) => `${Math.max(0, Math.round(now - s.lastAt))},${s.calls},${s.failures},${s.slow}`)
    .join(';');
  pending.segments = [];
  return batch;
}
