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
