import { Buffer } from 'node:buffer';
import { errorGuard, isOrchestratorError, OrchestratorError } from '../core/orchestrator.error.js';
import { RecordedStream } from '../dedupe/shared-stream.js';

/**
 * Turns a dedupe result into text for Redis and back; every process of a fleet must use the
 * same one. `serialize` throws for a value it cannot represent. Everything the Redis dedupe
 * store writes about a result (the cached value, the record waiters read, the pub/sub message,
 * an owner's error handed to waiters) is this text behind a one-letter kind, so a serializer
 * that encrypts keeps results and errors unreadable in Redis.
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
  /** The call's dedupe key; not enumerable, so it never travels to other processes. */
  declare readonly key: string;

  constructor(
    readonly dedupe: string,
    key: string,
    cause: unknown,
  ) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    // The key stays out of the message: the message reaches waiting processes through Redis.
    super(
      'DEDUPE_SERIALIZATION',
      `dedupe "${dedupe}": a result cannot be serialised for Redis (${reason}); pass a serializer to RedisDedupeStore that can represent it`,
      { cause },
    );
    Object.defineProperty(this, 'key', { value: key, enumerable: false });
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

/** A result the owner kept to its own callers (see `RedisDedupeStoreOptions.maxValueBytes`). */
export const TOO_LARGE_ENVELOPE = 'L';

/** What an envelope holds. */
export type DecodedEnvelope = { value: unknown } | { error: Error } | { tooLarge: true };

/**
 * The envelope around a result: `v` a value, `s` a finished stream's items, `e` an error, `L` a
 * result too large to share. The kind is the library's, the payload the serializer's.
 */
export class EnvelopeCodec {
  /** True with the default serializer, whose output size can be bounded before it runs. */
  private readonly json: boolean;

  constructor(
    private readonly serializer: DedupeSerializer,
    /** The largest envelope `encodeShared` lets through. */
    readonly maxValueBytes = Infinity,
  ) {
    this.json = serializer === jsonDedupeSerializer;
  }

  /** `encodeValue`, or `TOO_LARGE_ENVELOPE` when the result is over `maxValueBytes`. */
  encodeShared(value: unknown): string {
    if (this.json && jsonCertainlyExceeds(value, this.maxValueBytes)) return TOO_LARGE_ENVELOPE;
    const envelope = this.encodeValue(value);
    // Most envelopes are far below the bound: count bytes only when the length leaves doubt.
    if (envelope.length * 3 <= this.maxValueBytes) return envelope;
    return Buffer.byteLength(envelope) > this.maxValueBytes ? TOO_LARGE_ENVELOPE : envelope;
  }

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
      return `e${this.serializer.serialize(shape)}`;
    } catch {
      return `e${this.serializer.serialize({ name: shape.name, message: shape.message })}`;
    }
  }

  /** A value, `{ error }` for an error envelope, `{ tooLarge }` for a result not shared. */
  decode(envelope: string): DecodedEnvelope {
    if (envelope === TOO_LARGE_ENVELOPE) return { tooLarge: true };
    const payload = envelope.slice(1);
    if (envelope[0] === 'e') {
      return { error: reviveError(this.serializer.deserialize(payload) as ErrorShape) };
    }
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

/**
 * True when the JSON form of `value` is certainly longer than `limitBytes`, found without
 * building it: the strings and keys it holds are summed (a UTF-8 byte per UTF-16 unit at least)
 * until they pass the limit. Serialising a 10 MB result only to find it too large would block
 * the event loop long enough to make every Redis command in flight look timed out.
 */
export function jsonCertainlyExceeds(value: unknown, limitBytes: number): boolean {
  let budget = limitBytes;
  const seen = new Set<object>();
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next === 'string') budget -= next.length;
    else budget -= 1;
    if (budget < 0) return true;
    if (typeof next !== 'object' || next === null || seen.has(next)) continue;
    seen.add(next);
    if (next instanceof RecordedStream) pending.push(next.items);
    else if (Array.isArray(next)) pending.push(...next);
    else if (Object.getPrototypeOf(next) === Object.prototype) {
      for (const [key, field] of Object.entries(next)) pending.push(key, field);
    }
  }
  return false;
}
