import type { CircuitTransition, RecordRequest } from '../circuit-breaker/circuit-breaker.store.js';
import type { CircuitState } from '../core/events.js';

/** CB_RECOVER's reply: {0} nothing to do, {1, remainingMs} not yet, or a transition. */
export type RecoverReply = [number, number?, number?, number?, string?, string?];

type Recover = (request: RecordRequest, epoch: number) => Promise<RecoverReply>;

const STATES: Record<string, CircuitState> = { c: 'closed', o: 'open', h: 'half-open' };
/** setTimeout's ceiling: a longer delay would fire at once. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * The timers of the circuits this process opened: as a recovery window ends, one script moves
 * the circuit to half-open in Redis (unless a call or another transition came first, or it is
 * held open by force) and the listener of the outcome that opened it hears the transition. Only
 * the opener keeps a timer, so the fleet reports the transition once; if the opener is gone,
 * the next admission anywhere makes it and reports it, as before. Timers are unref'd.
 */
export class RecoveryTimers {
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(private readonly recover: Recover) {}

  /** Fires in `delayMs` (server time left in the window); replaces the circuit's earlier timer. */
  arm(request: RecordRequest, epoch: number, delayMs: number): void {
    const circuit = request.circuit;
    this.cancel(circuit);
    const timer = setTimeout(
      () => {
        if (this.timers.get(circuit) === timer) this.timers.delete(circuit);
        this.recover(request, epoch).then(
          (reply) => this.answered(request, epoch, reply),
          () => undefined, // Redis unreachable: the next admission reports the transition
        );
      },
      Math.min(Math.max(0, delayMs), MAX_TIMER_MS),
    );
    timer.unref?.();
    this.timers.set(circuit, timer);
  }

  clear(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private cancel(circuit: string): void {
    const timer = this.timers.get(circuit);
    if (timer !== undefined) clearTimeout(timer);
    this.timers.delete(circuit);
  }

  private answered(request: RecordRequest, epoch: number, reply: RecoverReply): void {
    const [code, value = 0, now = 0, , from = 'o', to = 'h'] = reply;
    // Redis's clock says the window is not over yet (this timer ran ahead of it): wait the rest.
    if (code === 1) return this.arm(request, epoch, value);
    if (code !== 2) return;
    const transition: CircuitTransition = { from: STATES[from], to: STATES[to], at: now };
    try {
      request.onTransition?.(transition);
    } catch {
      // A listener's failure must not become an unhandled rejection.
    }
  }
}
