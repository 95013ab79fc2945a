import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';

/**
 * The default dedupe key: SHA-256 (hex) of the canonical serialisation of the arguments.
 * Trailing `undefined` arguments are dropped, so `f('x')` and `f('x', undefined)` share a key.
 *
 * @publicApi
 * @throws {TypeError} when an argument is a function (give `@Dedupe` a `key` instead)
 */
export function defaultDedupeKey(args: readonly unknown[]): string {
  return createHash('sha256').update(canonicalArguments(args)).digest('hex');
}

/**
 * Serialises arguments so that equal values give equal text and different values different
 * text, unlike `JSON.stringify`, which depends on property order and drops `undefined`,
 * `Map`, `Set` and `bigint`. Every value carries a type tag and strings a length prefix, so
 * no two values can run together. An `AbortSignal` is encoded by its type alone: it says how
 * long a caller waits, not what it asks for.
 */
export function canonicalArguments(args: readonly unknown[]): string {
  let end = args.length;
  while (end > 0 && args[end - 1] === undefined) end--;
  const out: string[] = [];
  const ancestors: object[] = [];
  for (let i = 0; i < end; i++) encode(args[i], out, ancestors);
  return out.join('');
}

function encode(value: unknown, out: string[], ancestors: object[]): void {
  switch (typeof value) {
    case 'string':
      return encodeText('s', value, out);
    case 'number':
      out.push('n', Object.is(value, -0) ? '-0' : String(value), ';');
      return;
    case 'bigint':
      out.push('i', value.toString(), ';');
      return;
    case 'boolean':
      out.push(value ? 'T' : 'F');
      return;
    case 'undefined':
      out.push('U');
      return;
    case 'symbol':
      return encodeText('y', value.description ?? '', out);
    case 'function':
      throw new TypeError(
        'cannot derive a dedupe key from a function argument; give @Dedupe a key function',
      );
    default:
      return encodeObject(value as object | null, out, ancestors);
  }
}

function encodeText(tag: string, text: string, out: string[]): void {
  out.push(tag, String(text.length), ':', text);
}

function encodeObject(value: object | null, out: string[], ancestors: object[]): void {
  if (value === null) return void out.push('N');
  const depth = ancestors.indexOf(value);
  // A cycle is written as "the ancestor n levels up", which is as canonical as the cycle itself.
  if (depth !== -1) return void out.push('^', String(ancestors.length - depth), ';');
  if (encodeLeafObject(value, out)) return;
  ancestors.push(value);
  try {
    encodeContainer(value, out, ancestors);
  } finally {
    ancestors.pop();
  }
}

/** Objects whose content is not their enumerable properties. */
function encodeLeafObject(value: object, out: string[]): boolean {
  if (value instanceof AbortSignal) out.push('G');
  else if (value instanceof Date) out.push('D', String(value.getTime()), ';');
  else if (value instanceof RegExp) encodeText('R', value.toString(), out);
  else if (value instanceof Error) encodeText('E', `${value.name}: ${value.message}`, out);
  else if (ArrayBuffer.isView(value)) encodeBytes(value.constructor.name, bytesOf(value), out);
  else if (value instanceof ArrayBuffer) encodeBytes('ArrayBuffer', new Uint8Array(value), out);
  else return false;
  return true;
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

function encodeBytes(type: string, bytes: Uint8Array, out: string[]): void {
  encodeText('B', type, out);
  encodeText(
    '',
    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'),
    out,
  );
}

function encodeContainer(value: object, out: string[], ancestors: object[]): void {
  if (Array.isArray(value)) {
    out.push('[', String(value.length), ':');
    for (let i = 0; i < value.length; i++) encode(value[i], out, ancestors);
    out.push(']');
  } else if (value instanceof Map) {
    const entries = [...value].map(([k, v]) => encodeAll([k, v], ancestors));
    encodeSorted('M', entries, out);
  } else if (value instanceof Set) {
    encodeSorted(
      'S',
      [...value].map((member) => encodeAll([member], ancestors)),
      out,
    );
  } else if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    out.push('J');
    encode((value as { toJSON(): unknown }).toJSON(), out, ancestors);
  } else {
    encodeRecord(value as Record<string, unknown>, out, ancestors);
  }
}

function encodeAll(values: unknown[], ancestors: object[]): string {
  const out: string[] = [];
  for (const value of values) encode(value, out, ancestors);
  return out.join('');
}

/** Map entries and Set members in a fixed order, whatever order they were inserted in. */
function encodeSorted(tag: string, encoded: string[], out: string[]): void {
  encoded.sort();
  out.push(tag, String(encoded.length), ':');
  for (const item of encoded) encodeText('', item, out);
}

/**
 * Own enumerable properties, keys sorted. A property set to `undefined` is left out, as an
 * absent optional property would be. A class instance is tagged with its class name.
 */
function encodeRecord(value: Record<string, unknown>, out: string[], ancestors: object[]): void {
  const prototype: unknown = Object.getPrototypeOf(value);
  const plain = prototype === Object.prototype || prototype === null;
  const className = plain
    ? ''
    : ((prototype as { constructor?: Function }).constructor?.name ?? '?');
  const keys = Object.keys(value)
    .filter((key) => value[key] !== undefined)
    .sort();
  encodeText('{', className, out);
  out.push(String(keys.length), ':');
  for (const key of keys) {
    encodeText('k', key, out);
    encode(value[key], out, ancestors);
  }
  out.push('}');
}
