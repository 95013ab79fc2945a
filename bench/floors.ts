/**
 * Hand-written floors: the least code that does each job correctly, with no options, events or
 * stores. They show how close a general library can get, not what a library should ship.
 */

type Op<T> = () => Promise<T>;

/**
 * Consecutive-failure breaker. A rejection builds a plain `Error`, with its stack trace, or
 * without one (`stackless`), which shows what any rejection costs on Node 20 at the least.
 */
export class FloorBreaker {
  private failures = 0;
  private openUntil = 0;

  constructor(
    private readonly threshold = 5,
    private readonly recoveryMs = 30_000,
    private readonly stackless = false,
  ) {}

  call<T>(op: Op<T>): Promise<T> {
    if (this.openUntil !== 0 && Date.now() < this.openUntil) {
      return Promise.reject(this.stackless ? stacklessError() : new Error('circuit open'));
    }
    return op().then(this.onSuccess, this.onFailure);
  }

  open(): void {
    this.openUntil = Date.now() + this.recoveryMs;
  }

  // Bound once, so a call allocates no closures.
  private readonly onSuccess = <T>(value: T): T => {
    this.failures = 0;
    this.openUntil = 0;
    return value;
  };

  private readonly onFailure = (error: unknown): never => {
    if (++this.failures >= this.threshold) this.open();
    throw error;
  };
}

function stacklessError(): Error {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  const error = new Error('circuit open');
  Error.stackTraceLimit = limit;
  return error;
}

/** Retries up to `attempts` times; no delay is needed on the success path it is measured on. */
export async function floorRetry<T>(op: Op<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (error) {
      if (attempt >= attempts) throw error;
    }
  }
}

/** Counting semaphore with a FIFO of waiters; a moving head index keeps dequeues O(1). */
export class FloorSemaphore {
  private active = 0;
  private queue: Array<(() => void) | undefined> = [];
  private head = 0;

  constructor(private readonly capacity: number) {}

  async run<T>(op: Op<T>): Promise<T> {
    if (this.active >= this.capacity)
      await new Promise<void>((resolve) => this.queue.push(resolve));
    else this.active++;
    try {
      return await op();
    } finally {
      this.next();
    }
  }

  /** Hands the slot straight to the oldest waiter, or frees it. */
  private next(): void {
    if (this.head === this.queue.length) {
      this.active--;
      return;
    }
    const resolve = this.queue[this.head];
    this.queue[this.head++] = undefined;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
    resolve!();
  }
}

/** Single flight: concurrent calls with one key share one promise. */
export class FloorSingleFlight {
  private readonly flights = new Map<string, Promise<unknown>>();

  run<T>(key: string, op: Op<T>): Promise<T> {
    const running = this.flights.get(key);
    if (running !== undefined) return running as Promise<T>;
    const flight = op().finally(() => this.flights.delete(key));
    this.flights.set(key, flight);
    return flight;
  }
}

/**
 * The least a timeout can cost on Node: one `setTimeout` armed and one `clearTimeout` per call,
 * no signal, no error object until it fires.
 */
export function floorTimeout<T>(op: Op<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out')), ms);
    op().then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/**
 * Token bucket: `limit` tokens per `intervalMs`, refilled continuously from `Date.now()` (the
 * clock our in-memory limiter reads); a call takes one token or is refused at once.
 */
export class FloorTokenBucket {
  private tokens: number;
  private refilledAt = Date.now();
  private readonly perMs: number;

  constructor(
    private readonly limit: number,
    intervalMs: number,
  ) {
    this.tokens = limit;
    this.perMs = limit / intervalMs;
  }

  run<T>(op: Op<T>): Promise<T> {
    const now = Date.now();
    this.tokens = Math.min(this.limit, this.tokens + (now - this.refilledAt) * this.perMs);
    this.refilledAt = now;
    if (this.tokens < 1) return Promise.reject(new Error('rate limited'));
    this.tokens--;
    return op();
  }
}
