import { describe, expect, it } from '@jest/globals';
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

  it('tags class instances with their class name', () => {
    class A {
      constructor(readonly x: number) {}
    }
    class B {
      constructor(readonly x: number) {}
    }
    expect(key(new A(1))).toBe(key(new A(1)));
    expect(key(new A(1))).not.toBe(key(new B(1)));
    expect(key(new A(1))).not.toBe(key({ x: 1 }));
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

  it('serialises with type tags and length prefixes', () => {
    expect(canonicalArguments(['ab', 1, true, null])).toBe('s2:abn1;TN');
  });
});
