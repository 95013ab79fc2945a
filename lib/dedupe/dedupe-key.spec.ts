import { describe, expect, it } from '@jest/globals';
import { isInvalidOptionsError, type InvalidOptionsError } from '../core/invalid-options.error.js';
import { canonicalArguments, defaultDedupeKey } from './dedupe-key.js';

const key = (...args: unknown[]) => defaultDedupeKey(args);

describe('defaultDedupeKey', () => {
  it('is a SHA-256 hex digest', () => {
    expect(key('hello')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('ignores the order of object keys, at any depth', () => {
    const a = { model: 'm', options: { temperature: 0, top: 1 }, prompt: 'p' };
    const b = { prompt: 'p', options: { top: 1, temperature: 0 }, model: 'm' };
    expect(key(a)).toBe(key(b));
  });

  it('treats a property set to undefined as absent, and drops trailing undefined arguments', () => {
    expect(key({ a: 1, b: undefined })).toBe(key({ a: 1 }));
    expect(key('x', undefined)).toBe(key('x'));
    expect(key(undefined, 'x')).not.toBe(key('x'));
  });

  it('tells apart values JSON.stringify confuses', () => {
    expect(key(1)).not.toBe(key('1'));
    expect(key(1n)).not.toBe(key(1));
    expect(key(null)).not.toBe(key(undefined, 0));
    expect(key(0)).not.toBe(key(-0));
    expect(key(NaN)).not.toBe(key(null));
    expect(key(new Map([['a', 1]]))).not.toBe(key({}));
    expect(key(new Set([1]))).not.toBe(key(new Set([2])));
    expect(key([undefined])).not.toBe(key([null]));
  });

  it('keeps string boundaries: ["ab", "c"] differs from ["a", "bc"]', () => {
    expect(key('ab', 'c')).not.toBe(key('a', 'bc'));
    expect(key(['ab', 'c'])).not.toBe(key(['a', 'bc']));
  });

  it('orders Map entries and Set members canonically', () => {
    const m1 = new Map<unknown, unknown>([
      ['b', 2],
      ['a', { z: 1, y: 2 }],
    ]);
    const m2 = new Map<unknown, unknown>([
      ['a', { y: 2, z: 1 }],
      ['b', 2],
    ]);
    expect(key(m1)).toBe(key(m2));
    expect(key(new Set([3, 1, 2]))).toBe(key(new Set([2, 3, 1])));
  });

  it('encodes Dates by instant, and bytes by content', () => {
    expect(key(new Date(5))).toBe(key(new Date(5)));
    expect(key(new Date(5))).not.toBe(key(new Date(6)));
    expect(key(new Uint8Array([1, 2]))).toBe(key(new Uint8Array([1, 2])));
    expect(key(new Uint8Array([1, 2]))).not.toBe(key(new Uint8Array([1, 3])));
  });

  it('reads a class instance through its toJSON, tagged with its class', () => {
    class A {
      constructor(readonly x: number) {}
      toJSON() {
        return { x: this.x };
      }
    }
    class B {
      constructor(readonly x: number) {}
      toJSON() {
        return { x: this.x };
      }
    }
    expect(key(new A(1))).toBe(key(new A(1)));
    expect(key(new A(1))).not.toBe(key(new A(2)));
    expect(key(new A(1))).not.toBe(key(new B(1)));
    expect(key(new A(1))).not.toBe(key({ x: 1 }));
    expect(key(new URL('https://a.example/x'))).not.toBe(key(new URL('https://a.example/y')));
  });

  it('encodes a cycle without looping, canonically', () => {
    const a: Record<string, unknown> = { name: 'a' };
    a.self = a;
    const b: Record<string, unknown> = { name: 'a' };
    b.self = b;
    expect(key(a)).toBe(key(b));
    expect(key(a)).not.toBe(key({ name: 'a', self: {} }));
  });

  it('ignores AbortSignal identity: a signal says how long to wait, not what to ask', () => {
    const one = new AbortController().signal;
    const two = new AbortController().signal;
    expect(key('p', { signal: one })).toBe(key('p', { signal: two }));
  });

  it('refuses function arguments, pointing at the key option', () => {
    expect(() => key(() => 1)).toThrow(/give @Dedupe a key function/);
  });

  it('encodes registered symbols by name and array holes apart from undefined', () => {
    expect(key(Symbol.for('a'))).toBe(key(Symbol.for('a')));
    expect(key(Symbol.for('a'))).not.toBe(key('a'));
    // eslint-disable-next-line no-sparse-arrays
    expect(key([, 1])).not.toBe(key([undefined, 1]));
  });
});

/**
 * Each pair below got one key before (the second caller received the first caller's result):
 * the default key now refuses what it cannot read in full.
 */
describe('defaultDedupeKey refuses values it cannot read in full', () => {
  function refusal(...args: unknown[]): InvalidOptionsError {
    try {
      key(...args);
    } catch (error) {
      if (isInvalidOptionsError(error)) return error;
      throw error;
    }
    throw new Error('expected an InvalidOptionsError');
  }

  it('two different Headers', () => {
    const error = refusal('p', { headers: new Headers({ authorization: 'a' }) });
    expect(error.path).toBe('dedupe: key');
    expect(error.message).toMatch(/argument 1\.headers \(an instance of Headers without toJSON/);
    expect(error.message).toMatch(/give @Dedupe a key function/);
  });

  it('two instances that differ only in #private fields', () => {
    class Account {
      #secret: string;
      constructor(secret: string) {
        this.#secret = secret;
      }
      get secret() {
        return this.#secret;
      }
    }
    expect(refusal(new Account('a')).message).toMatch(/argument 0 \(an instance of Account/);
  });

  it('two instances that differ only in non-enumerable fields, class or plain', () => {
    class Box {
      constructor(value: number) {
        Object.defineProperty(this, 'value', { value, enumerable: false });
      }
    }
    const hidden = (value: number) => Object.defineProperty({}, 'value', { value });
    expect(refusal(new Box(1)).message).toMatch(/an instance of Box/);
    expect(refusal([hidden(1)]).message).toMatch(
      /argument 0\[0\] \(an object with a symbol key or a non-enumerable property\)/,
    );
    expect(refusal({ [Symbol('tag')]: 1 }).message).toMatch(/symbol key/);
  });

  it('two distinct symbols with one description', () => {
    expect(refusal(Symbol('x')).message).toMatch(/argument 0 \(Symbol\(x\), not registered\)/);
    expect(refusal({ kind: Symbol('x') }).message).toMatch(/argument 0\.kind/);
  });

  it('Map and Set subclasses, and Map or Set entries it cannot read', () => {
    class Tagged extends Map<string, number> {
      constructor(readonly tag: string) {
        super();
      }
    }
    expect(refusal(new Tagged('a')).message).toMatch(/a Tagged, whose state a plain Map/);
    expect(refusal(new Map([['k', new Headers()]])).message).toMatch(/\(a Map entry\)/);
    expect(refusal(new Set([Symbol('s')])).message).toMatch(/\(a Set member\)/);
  });

  it('an array with named properties, and an Error', () => {
    expect(refusal(Object.assign([1], { extra: 2 })).message).toMatch(/named properties/);
    expect(refusal(new Error('a')).message).toMatch(/an instance of Error/);
  });
});

describe('defaultDedupeKey, canonical form', () => {
  it('serialises with type tags and length prefixes', () => {
    expect(canonicalArguments(['ab', 1, true, null])).toBe('s2:abn1;TN');
  });
});
