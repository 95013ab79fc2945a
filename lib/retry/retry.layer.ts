import type { Call, Layer, Step } from '../core/layer.js';
import type { RetryPolicy } from './retry.policy.js';

/** Retries the rest of the chain. A stream is retried only when it failed before its first item. */
export class RetryLayer implements Layer {
  constructor(readonly policy: RetryPolicy) {}

  promise(next: Step, call: Call): Promise<unknown> {
    return next
      .promise(call)
      .then(undefined, (error) => this.policy.retryAfterFailure(() => next.promise(call), error));
  }

  async *stream(next: Step, call: Call): AsyncIterable<unknown> {
    let previous = 0;
    for (let attempt = 1; ; attempt++) {
      let started = false;
      try {
        for await (const item of next.stream(call)) {
          started = true;
          yield item;
        }
        return;
      } catch (error) {
        const delay = started ? undefined : this.policy.nextDelay(error, attempt, previous);
        if (delay === undefined) throw started ? error : this.policy.giveUp(error, attempt);
        this.policy.reportScheduled(error, attempt, delay);
        await this.policy.clock.sleep(delay);
        previous = delay;
      }
    }
  }
}
