import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { InvalidOptionsError } from '../core/invalid-options.error.js';

/**
 * The default dedupe key: SHA-256 (hex) of the canonical serialisation of the arguments.
 * Trailing `undefined` arguments are dropped, so `f('x')` and `f('x', undefined)` share a key.
 *
 * Only values whose whole content it can read get a key: primitives, registered symbols
 * (`Symbol.for`), plain objects and arrays (own enumerable string keys only), `Map`, `Set`,
 * `Date`, `RegExp`, `ArrayBuffer`, typed arrays, `Buffer`, `DataView`, and any object with a
 * `toJSON` method (its JSON form, tagged with its class, is its content). Anything else (a class
 * instance, which may hold `#private` or non-enumerable state; `Headers`; a `Map` subclass; an
 * unregistered symbol; a function) could make two different calls share one key, so it is
 * refused. An `AbortSignal` is encoded by its type alone: it says how long a caller waits, not
 * what it asks for.
 *
 * @publicApi
 * @throws {InvalidOptionsError} naming the argument that cannot be read (give `@Dedupe` a `key`)
 */
export function defaultDedupeKey(args: readonly unknown[], scope = 'dedupe'): string {
  return createHash('sha256').update(canonicalArguments(args, scope)).digest('hex');
}

/**
 * Serialises arguments so that equal values give equal text and different values different
 * text, unlike `JSON.stringify`, which depends on property order and drops `undefined`,
 * `Map`, `Set` and `bigint`. Every value carries a type tag and strings a length prefix, so
 * no two values can run together.
 */
export function canonicalArguments(args: readonly unknown[], scope = 'dedupe'): string {
  let end = args.length;
  while (end > 0 && args[end - 1] === undefined) end--;
  const out: string[] = [];
  const ancestors: object[] = [];
  for (let i = 0; i < end; i++) {
    try {
      encode(args[i], out, ancestors);
    } catch (error) {
      if (!(error instanceof Unreadable)) throw error;
      throw new InvalidOptionsError(
        `${scope}: key`,
        `is needed: the default key cannot read argument ${i}${error.at.reverse().join('')} (${error.what}), so two different calls could share one key; give @Dedupe a key function`,
      );
    }
  }
  return out.join('');
}

/** A value the default key cannot read in full; `at` is filled in on the way out. */
class Unreadable extends Error {
  readonly at: string[] = [];

  constructor(readonly what: string) {
    super(what);
  }
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
      return encodeSymbol(value, out);
    case 'function':
      throw new Unreadable('a function');
    default:
      return encodeObject(value as object | null, out, ancestors);
  }
}

function encodeText(tag: string, text: string, out: string[]): void {
  out.push(tag, String(text.length), ':', text);
}

/** Only a registered symbol is known by its name; two `Symbol('x')` are different values. */
function encodeSymbol(symbol: symbol, out: string[]): void {
  const registered = Symbol.keyFor(symbol);
  if (registered === undefined) throw new Unreadable(`${String(symbol)}, not registered`);
  encodeText('y', registered, out);
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

/** Built-ins whose content is not their properties, read in full; false for anything else. */
function encodeLeafObject(value: object, out: string[]): boolean {
  if (value instanceof AbortSignal) return (void out.push('G'), true);
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype === Date.prototype && noOwnKeys(value)) {
    out.push('D', String((value as Date).getTime()), ';');
  } else if (prototype === RegExp.prototype && Reflect.ownKeys(value).length === 1) {
    encodeText('R', String(value), out); // its only own key is lastIndex, a cursor
  } else if (BYTE_VIEWS.has(prototype)) {
    // Named properties on a byte array are not read: listing its own keys would cost one
    // string per byte, and bytes are what a byte array carries.
    const view = value as ArrayBufferView;
    encodeBytes(view.constructor.name, bytesOf(view), out);
  } else if (prototype === DataView.prototype && noOwnKeys(value)) {
    encodeBytes('DataView', bytesOf(value as DataView), out);
  } else if (prototype === ArrayBuffer.prototype && noOwnKeys(value)) {
    encodeBytes('ArrayBuffer', new Uint8Array(value as ArrayBuffer), out);
  } else {
    return false;
  }
  return true;
}

/** Typed arrays (and Buffer, a Uint8Array subclass Node owns): their content is their bytes. */
const BYTE_VIEWS = new Set<unknown>(
  [
    Int8Array,
    Uint8Array,
    Uint8ClampedArray,
    Int16Array,
    Uint16Array,
    Int32Array,
    Uint32Array,
    Float32Array,
    Float64Array,
    BigInt64Array,
    BigUint64Array,
    Buffer,
  ].map((type) => type.prototype),
);

function noOwnKeys(value: object): boolean {
  return Reflect.ownKeys(value).length === 0;
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
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype === Array.prototype) return encodeArray(value as unknown[], out, ancestors);
  if (prototype === Object.prototype || prototype === null) {
    return encodeRecord(value as Record<string, unknown>, out, ancestors);
  }
  if (prototype === Map.prototype && noOwnKeys(value)) {
    const entries = [...(value as Map<unknown, unknown>)];
    return encodeSorted('M', entries, ' (a Map entry)', out, ancestors);
  }
  if (prototype === Set.prototype && noOwnKeys(value)) {
    const members = [...(value as Set<unknown>)].map((member) => [member]);
    return encodeSorted('S', members, ' (a Set member)', out, ancestors);
  }
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    // The object says what its content is; two classes with one JSON form stay apart.
    encodeText('J', classNameOf(prototype), out);
    return within('.toJSON()', () =>
      encode((value as { toJSON(): unknown }).toJSON(), out, ancestors),
    );
  }
  throw new Unreadable(describeInstance(value, prototype));
}

/** Elements in order; a hole differs from `undefined`; a named property is refused. */
function encodeArray(value: unknown[], out: string[], ancestors: object[]): void {
  out.push('[', String(value.length), ':');
  let present = 0;
  for (let i = 0; i < value.length; i++) {
    if (!(i in value)) {
      out.push('H');
      continue;
    }
    present++;
    within(`[${i}]`, () => encode(value[i], out, ancestors));
  }
  // Own keys are the present indexes and `length`: anything more is state the key would miss.
  if (Reflect.ownKeys(value).length !== present + 1) {
    throw new Unreadable('an array with named properties');
  }
  out.push(']');
}

/** Map entries and Set members in a fixed order, whatever order they were inserted in. */
function encodeSorted(
  tag: string,
  items: unknown[][],
  where: string,
  out: string[],
  ancestors: object[],
): void {
  const encoded = items.map((values) => {
    const item: string[] = [];
    within(where, () => values.forEach((v) => encode(v, item, ancestors)));
    return item.join('');
  });
  encoded.sort();
  out.push(tag, String(encoded.length), ':');
  for (const item of encoded) encodeText('', item, out);
}

/**
 * Own enumerable properties, keys sorted. A property set to `undefined` is left out, as an
 * absent optional property would be. A symbol key or a non-enumerable property is refused.
 */
function encodeRecord(value: Record<string, unknown>, out: string[], ancestors: object[]): void {
  const names = Object.keys(value);
  if (names.length !== Reflect.ownKeys(value).length) {
    throw new Unreadable('an object with a symbol key or a non-enumerable property');
  }
  const keys = names.filter((key) => value[key] !== undefined).sort();
  out.push('{', String(keys.length), ':');
  for (const key of keys) {
    encodeText('k', key, out);
    within(`.${key}`, () => encode(value[key], out, ancestors));
  }
  out.push('}');
}

/** Runs `encodeInner`, adding `segment` to the path of a value it cannot read. */
function within(segment: string, encodeInner: () => void): void {
  try {
    encodeInner();
  } catch (error) {
    if (error instanceof Unreadable) error.at.push(segment);
    throw error;
  }
}

function classNameOf(prototype: unknown): string {
  if (prototype === null || prototype === Object.prototype) return '';
  return (prototype as { constructor?: { name?: string } }).constructor?.name ?? '?';
}

function describeInstance(value: object, prototype: unknown): string {
  const name = classNameOf(prototype) || 'anonymous class';
  if (value instanceof Map || value instanceof Set) {
    return `a ${name}, whose state a plain Map or Set would not have`;
  }
  return `an instance of ${name} without toJSON, whose private or non-enumerable state it cannot see`;
}
