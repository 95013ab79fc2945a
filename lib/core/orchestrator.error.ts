const BRAND = Symbol.for('nestjs-orchestrator.error');

/**
 * Base class of every error the library raises. `code` is stable and machine-readable;
 * `name` is the class name.
 *
 * @publicApi
 */
export class OrchestratorError extends Error {
  readonly [BRAND] = true;

  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * True for any error of this library, even one thrown by another copy of the package
 * (two versions in one `node_modules`), which `instanceof` would miss.
 */
export function isOrchestratorError(error: unknown): error is OrchestratorError {
  return typeof error === 'object' && error !== null && (error as any)[BRAND] === true;
}

/** Codes of errors that report the downstream's failure (a timed-out attempt), not a refusal. */
const DOWNSTREAM_FAILURES: ReadonlySet<string> = new Set(['TIMEOUT']);

/**
 * True for the library's own refusals (an open circuit, a shed call, a rate limit, bad
 * options): a retry cannot fix them and a breaker does not count them. A `TimeoutError` is not
 * one: the downstream failed to answer in time, so it is retried and counted like any failure.
 */
export function isOrchestratorRefusal(error: unknown): boolean {
  return isOrchestratorError(error) && !DOWNSTREAM_FAILURES.has(error.code);
}

/** Builds a guard that recognises errors by their `code`, across copies of the package. */
export function errorGuard<E extends OrchestratorError>(code: string) {
  return (error: unknown): error is E => isOrchestratorError(error) && error.code === code;
}

/**
 * Builds an error without capturing a stack trace. Used for rejections on hot paths (an open
 * circuit, a shed call): capturing the stack costs microseconds and would only point into the
 * library, never at the cause.
 */
export function withoutStack<E extends Error>(build: () => E): E {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return build();
  } finally {
    Error.stackTraceLimit = limit;
  }
}
