/**
 * One AbortSignal for an execution several callers share. If the shared execution ran with the
 * first caller's signal, that caller's abort would fail everyone who joined it (the "leader's
 * cancellation poisons the followers" bug). The shared signal aborts only when every
 * participant's own signal has aborted; one participant without a signal keeps it alive.
 */
export class SharedAbort {
  private readonly controller = new AbortController();
  private live = 0;
  private unbounded = false;
  private readonly cleanups: Array<() => void> = [];

  /**
   * When `args` carry an AbortSignal (an argument, or a property of an object argument),
   * returns the shared abort with the leader joined and the arguments to run with, where the
   * shared signal replaces the leader's.
   */
  static forArguments(
    args: readonly unknown[],
  ): { shared: SharedAbort; args: unknown[] } | undefined {
    if (!mayHoldSignals(args) || signalsIn(args).length === 0) return undefined;
    const shared = new SharedAbort();
    shared.join(args);
    return { shared, args: args.map((arg) => replaceSignals(arg, shared.controller.signal)) };
  }

  /** Aborts once every participant's own signal has aborted. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Adds a participant whose signals are in `args`. */
  join(args: readonly unknown[]): void {
    const signals = signalsIn(args);
    if (signals.length === 0) {
      this.unbounded = true;
      return;
    }
    this.live++;
    let left = false;
    const leave = (reason: unknown) => {
      if (left) return;
      left = true;
      if (--this.live === 0 && !this.unbounded) this.controller.abort(reason);
    };
    for (const signal of signals) {
      if (signal.aborted) {
        leave(signal.reason);
        continue;
      }
      const onAbort = () => leave(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      this.cleanups.push(() => signal.removeEventListener('abort', onAbort));
    }
  }

  /** Detaches from the participants' signals once the execution has ended. */
  dispose(): void {
    for (const cleanup of this.cleanups.splice(0)) cleanup();
  }
}

/**
 * False when no argument is or holds an AbortSignal, without allocating: every call of a
 * dedupe asks, and most carry none.
 */
function mayHoldSignals(args: readonly unknown[]): boolean {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg instanceof AbortSignal) return true;
    if (isPlainObject(arg) && holdsSignal(arg)) return true;
  }
  return false;
}

function holdsSignal(arg: Record<string, unknown>): boolean {
  for (const key in arg) if (arg[key] instanceof AbortSignal) return true;
  return false;
}

function signalsIn(args: readonly unknown[]): AbortSignal[] {
  const signals: AbortSignal[] = [];
  for (const arg of args) {
    if (arg instanceof AbortSignal) signals.push(arg);
    else if (isPlainObject(arg)) {
      for (const value of Object.values(arg)) if (value instanceof AbortSignal) signals.push(value);
    }
  }
  return signals;
}

function replaceSignals(arg: unknown, signal: AbortSignal): unknown {
  if (arg instanceof AbortSignal) return signal;
  if (!isPlainObject(arg)) return arg;
  const entries = Object.entries(arg);
  if (!entries.some(([, value]) => value instanceof AbortSignal)) return arg;
  return Object.fromEntries(
    entries.map(([key, value]) => [key, value instanceof AbortSignal ? signal : value]),
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}
