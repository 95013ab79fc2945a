// opossum ships no types; this covers what the bench uses.
declare module 'opossum' {
  interface CircuitBreakerOptions {
    timeout?: number | false;
    resetTimeout?: number;
    coalesce?: boolean;
    coalesceTTL?: number;
    coalesceResetOn?: Array<'error' | 'success' | 'timeout'>;
  }

  class CircuitBreaker<R = unknown> {
    constructor(action: (...args: any[]) => Promise<R>, options?: CircuitBreakerOptions);
    fire(...args: unknown[]): Promise<R>;
    open(): void;
    shutdown(): void;
  }

  export = CircuitBreaker;
}
