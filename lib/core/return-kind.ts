import { isObservable } from './streams.js';

/** What a protected method returns; decided once, before the method ever runs. */
export type ReturnKind = 'promise' | 'observable' | 'iterable';

/**
 * An async generator gives an AsyncIterable and an async function a Promise; otherwise the
 * declared return type (`design:returntype`) decides, and a plain function is treated as
 * returning a Promise.
 */
export function returnKindOf(method: Function, target: object, key: string | symbol): ReturnKind {
  const constructorName = method.constructor?.name;
  if (constructorName === 'AsyncGeneratorFunction') return 'iterable';
  if (constructorName === 'AsyncFunction') return 'promise';
  const declared: unknown = Reflect.getMetadata?.('design:returntype', target, key);
  if (typeof declared === 'function' && isObservable(declared.prototype)) return 'observable';
  return 'promise';
}
