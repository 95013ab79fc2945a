import 'reflect-metadata';
import { InvalidOptionsError } from './invalid-options.error.js';
import { classNameOf, SIGNAL_PARAMETER } from './protected-method.js';

/**
 * Marks the parameter that receives the call's `AbortSignal` (type `AbortSignal | undefined`,
 * usually the last). Every attempt gets a signal there; it aborts when the attempt times out
 * (`@Timeout`), when the signal the caller passed in that argument aborts, or, for a deduped
 * call, when every caller waiting on the shared execution has aborted. Pass it on to the
 * upstream request (`fetch(url, { signal })`, the `openai` SDK's `{ signal }`).
 *
 * @publicApi
 * @example
 * \@Timeout(10_000)
 * async complete(prompt: string, @Signal() signal?: AbortSignal): Promise<string> {
 *   return this.llm.complete(prompt, { signal });
 * }
 */
export function Signal(): ParameterDecorator {
  return (target, key, index) => {
    if (key === undefined) {
      throw new InvalidOptionsError(
        `@Signal() on ${classNameOf(target)}`,
        'marks a constructor parameter; it applies to method parameters only',
      );
    }
    const existing: unknown = Reflect.getOwnMetadata(SIGNAL_PARAMETER, target, key);
    if (typeof existing === 'number' && existing !== index) {
      throw new InvalidOptionsError(
        `@Signal() on ${classNameOf(target)}.${String(key)}`,
        `marks parameters ${Math.min(existing, index)} and ${Math.max(existing, index)}; a method receives one signal, mark one parameter`,
      );
    }
    Reflect.defineMetadata(SIGNAL_PARAMETER, index, target, key);
  };
}
