import type { Call } from '../core/layer.js';

/**
 * The call one attempt passes down the chain: the caller's call with a signal of its own. The
 * signal aborts when the attempt times out or when the caller's signal aborts.
 *
 * The AbortController is made only when something reads `signal` (a method with `@Signal()`,
 * a layer below that watches it): creating an `AbortSignal` costs Node several microseconds,
 * more than the rest of the timeout, and most attempts finish without anyone asking. A
 * signal read after the attempt was aborted is born aborted, with the same reason.
 */
export class AttemptCall implements Call {
  readonly self: unknown;
  readonly args: unknown[];
  readonly stream?: boolean;
  dedupeKey?: string;
  sharedExecution?: Promise<void>;
  private controller: AbortController | undefined;
  private abortedWith: { reason: unknown } | undefined;

  constructor(call: Call) {
    this.self = call.self;
    this.args = call.args;
    this.stream = call.stream;
    this.dedupeKey = call.dedupeKey;
    this.sharedExecution = call.sharedExecution;
  }

  get signal(): AbortSignal {
    let controller = this.controller;
    if (controller === undefined) {
      controller = this.controller = new AbortController();
      if (this.abortedWith !== undefined) controller.abort(this.abortedWith.reason);
    }
    return controller.signal;
  }

  /** Aborts the attempt's signal (now, or when it is first read); the first reason wins. */
  abort(reason: unknown): void {
    if (this.abortedWith !== undefined) return;
    this.abortedWith = { reason };
    this.controller?.abort(reason);
  }
}
