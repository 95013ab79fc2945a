import type { Call, Layer, Step } from '../core/layer.js';
import { GuardedIterator, type Opened } from '../core/guarded-iterator.js';
import { isPromiseLike } from '../core/maybe-promise.js';
import type { RateLimiter, RateLimitTicket } from './rate-limiter.js';

/**
 * Reserves rate-limit capacity before the rest of the chain runs and charges the real usage
 * after it. A call answered by a cache or a shared execution (dedupe below) reserves nothing.
 */
export class RateLimitLayer implements Layer {
  /** Built once: a call that charges nothing after it ran only has its error read. */
  private readonly onError = (error: unknown): never => {
    this.limiter.failed(error);
    throw error;
  };

  constructor(readonly limiter: RateLimiter) {}

  promise(next: Step, call: Call): Promise<unknown> {
    if (next.answersWithoutExecution(call)) return next.promise(call);
    let ticket;
    try {
      ticket = this.limiter.acquire(call.args, call.signal);
    } catch (error) {
      return Promise.reject(error);
    }
    if (isPromiseLike(ticket)) return this.runWhenAdmitted(ticket, next, call);
    return this.run(ticket, next, call);
  }

  stream(next: Step, call: Call): AsyncIterable<unknown> {
    const { limiter } = this;
    return {
      [Symbol.asyncIterator]: () => new LimitedIterator(limiter, next, call),
    };
  }

  answersWithoutExecution(next: Step, call: Call): boolean {
    return next.answersWithoutExecution(call);
  }

  /** Apart from `promise`, so its closure costs nothing when the store answers synchronously. */
  private runWhenAdmitted(
    ticket: Promise<RateLimitTicket>,
    next: Step,
    call: Call,
  ): Promise<unknown> {
    return ticket.then((t) => this.run(t, next, call));
  }

  private run(ticket: RateLimitTicket, next: Step, call: Call): Promise<unknown> {
    const { limiter } = this;
    if (!limiter.charges(ticket)) {
      return limiter.watchesErrors
        ? next.promise(call).then(undefined, this.onError)
        : next.promise(call);
    }
    return next.promise(call).then(
      (value) => {
        limiter.settle(ticket, value);
        return value;
      },
      (error) => {
        limiter.failed(error);
        throw error;
      },
    );
  }
}

/**
 * Reserves at the first `next()`, and charges when the stream ends, from the usage its last
 * item reports. A stream left early keeps its estimate.
 */
class LimitedIterator extends GuardedIterator {
  private ticket: RateLimitTicket | undefined;
  private last: unknown;

  constructor(
    private readonly limiter: RateLimiter,
    private readonly step: Step,
    private readonly call: Call,
  ) {
    super();
  }

  protected override open(): Opened | Promise<Opened> {
    if (this.step.answersWithoutExecution(this.call)) return this.openStream();
    const ticket = this.limiter.acquire(this.call.args, this.call.signal);
    if (!isPromiseLike(ticket)) return this.openStream(ticket);
    return ticket.then((t) => (this.closed ? undefined : this.openStream(t)));
  }

  protected override onItem(value: unknown): void {
    this.last = value;
  }

  protected override onDone(): void {
    if (this.ticket !== undefined) this.limiter.settle(this.ticket, this.last);
  }

  protected override onError(error: unknown): boolean {
    if (this.ticket !== undefined) this.limiter.failed(error);
    return false;
  }

  private openStream(ticket?: RateLimitTicket): AsyncIterator<unknown> {
    this.ticket = ticket;
    return this.step.stream(this.call)[Symbol.asyncIterator]();
  }
}
