import type { Call, Layer, Step } from '../core/layer.js';
import { isPromiseLike } from '../core/maybe-promise.js';
import type { RateLimiter, RateLimitTicket } from './rate-limiter.js';

/**
 * Reserves rate-limit capacity before the rest of the chain runs and charges the real usage
 * after it. A call answered by a cache or a shared execution (dedupe below) reserves nothing.
 */
export class RateLimitLayer implements Layer {
  constructor(readonly limiter: RateLimiter) {}

  promise(next: Step, call: Call): Promise<unknown> {
    if (next.answersWithoutExecution(call)) return next.promise(call);
    let ticket;
    try {
      ticket = this.limiter.acquire(call.args, call.signal);
    } catch (error) {
      return Promise.reject(error);
    }
    if (isPromiseLike(ticket)) return ticket.then((t) => this.run(t, next, call));
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

  private run(ticket: RateLimitTicket, next: Step, call: Call): Promise<unknown> {
    const { limiter } = this;
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
class LimitedIterator implements AsyncIterator<unknown> {
  private inner: AsyncIterator<unknown> | undefined;
  private ticket: RateLimitTicket | undefined;
  private last: unknown;

  constructor(
    private readonly limiter: RateLimiter,
    private readonly step: Step,
    private readonly call: Call,
  ) {}

  async next(): Promise<IteratorResult<unknown>> {
    if (this.inner === undefined) {
      const bypass = this.step.answersWithoutExecution(this.call);
      if (!bypass) this.ticket = await this.limiter.acquire(this.call.args, this.call.signal);
      this.inner = this.step.stream(this.call)[Symbol.asyncIterator]();
    }
    let result: IteratorResult<unknown>;
    try {
      result = await this.inner.next();
    } catch (error) {
      if (this.ticket !== undefined) this.limiter.failed(error);
      throw error;
    }
    if (!result.done) this.last = result.value;
    else if (this.ticket !== undefined) this.limiter.settle(this.ticket, this.last);
    return result;
  }

  async return(value?: unknown): Promise<IteratorResult<unknown>> {
    const inner = this.inner;
    this.inner = undefined;
    await inner?.return?.(value);
    return { done: true, value };
  }
}
