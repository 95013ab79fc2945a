import { errorGuard, isOrchestratorError, OrchestratorError } from '../core/orchestrator.error.js';
import { RecordedStream } from '../dedupe/shared-stream.js';

/**
 * Turns a dedupe result into text for Redis and back; every process of a fleet must use the
 * same one. `serialize` throws for a value it cannot represent.
 *
 * @publicApi
 */
export interface DedupeSerializer {
  serialize(value: unknown): string;
  deserialize(text: string): unknown;
}

/**
 * The default serializer: JSON, strict. `undefined` survives; a `Date` becomes its ISO string
 * (as with `JSON.stringify`); an object property that is `undefined` is dropped. A function,
 * symbol, bigint, `Map`, `Set` or a cycle anywhere in the value is an error rather than a
 * silently different value.
 *
 * @publicApi
 */
export const jsonDedupeSerializer: DedupeSerializer = {
  serialize(value: unknown): string {
    if (value === undefined) return 'u';
    return `j${JSON.stringify(value, strictReplacer)}`;
  },
  deserialize(text: string): unknown {
    return text === 'u' ? undefined : JSON.parse(text.slice(1));
  },
};

function strictReplacer(this: unknown, key: string, value: unknown): unknown {
  const type = typeof value;
  if (type === 'function' || type === 'symbol' || type === 'bigint') {
    throw new TypeError(`a ${type} (at ${describeKey(key)}) has no JSON form`);
  }
  if (value instanceof Map || value instanceof Set) {
    throw new TypeError(`a ${value.constructor.name} (at ${describeKey(key)}) has no JSON form`);
  }
  return value;
}

function describeKey(key: string): string {
  return key === '' ? 'the top level' : `key "${key}"`;
}

/**
 * A dedupe result could not be serialised for Redis. The owner's caller still gets its result;
 * other processes waiting for it run the call themselves.
 *
 * @publicApi
 */
export class DedupeSerializationError extends OrchestratorError {
  constructor(
    readonly dedupe: string,
    readonly key: string,
    cause: unknown,
  ) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      'DEDUPE_SERIALIZATION',
      `dedupe "${dedupe}": the result for key ${JSON.stringify(key)} cannot be serialised for Redis (${reason}); pass a serializer to RedisDedupeStore that can represent it`,
      { cause },
    );
  }
}

/**
 * True for a `DedupeSerializationError`, even one from another copy of the package.
 *
 * @publicApi
 */
export const isDedupeSerializationError =
  errorGuard<DedupeSerializationError>('DEDUPE_SERIALIZATION');

/** The brand `isOrchestratorError` checks; a registered symbol, so the same in every copy. */
const ORCHESTRATOR_BRAND = Symbol.for('nestjs-orchestrator.error');
const ORCHESTRATOR_FIELD = '__orchestratorError';

/** An error as it crosses processes: its name, message, code and own enumerable fields. */
interface ErrorShape {
  name?: string;
  message?: string;
  [field: string]: unknown;
}

/**
 * The envelope around a result: `v` a value, `s` a finished stream's items, `e` an error. The
 * kind is the library's, the payload the serializer's (errors always travel as JSON).
 */
export class EnvelopeCodec {
  constructor(private readonly serializer: DedupeSerializer) {}

  encodeValue(value: unknown): string {
    if (value instanceof RecordedStream) return `s${this.serializer.serialize(value.items)}`;
    return `v${this.serializer.serialize(value)}`;
  }

  encodeError(error: unknown): string {
    const shape: ErrorShape =
      error instanceof Error
        ? { ...plainFields(error), name: error.name, message: error.message }
        : { message: String(error) };
    // The library's type guards (isCircuitOpenError...) recognise the revived error too.
    if (isOrchestratorError(error)) shape[ORCHESTRATOR_FIELD] = true;
    try {
      return `e${JSON.stringify(shape)}`;
    } catch {
      return `e${JSON.stringify({ name: shape.name, message: shape.message })}`;
    }
  }

  /** A value, or `{ error }` for an error envelope. */
  decode(envelope: string): { value: unknown } | { error: Error } {
    const payload = envelope.slice(1);
    if (envelope[0] === 'e') return { error: reviveError(JSON.parse(payload) as ErrorShape) };
    const decoded = this.serializer.deserialize(payload);
    if (envelope[0] === 's') return { value: new RecordedStream(decoded as unknown[]) };
    return { value: decoded };
  }
}

function plainFields(error: Error): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(error)) {
    const type = typeof value;
    if (value === null || type === 'string' || type === 'number' || type === 'boolean')
      fields[key] = value;
  }
  return fields;
}

function reviveError(shape: ErrorShape): Error {
  const { [ORCHESTRATOR_FIELD]: orchestrator, ...fields } = shape;
  const error = new Error(shape.message ?? 'unknown error');
  Object.assign(error, fields);
  if (orchestrator === true) Object.defineProperty(error, ORCHESTRATOR_BRAND, { value: true });
  return error;
}
