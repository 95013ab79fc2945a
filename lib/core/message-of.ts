/**
 * An error-like value's message, or the value as text. Duck-typed rather than `instanceof Error`,
 * so that errors from another realm (a `DOMException`, a VM context) still read well.
 */
export function messageOf(value: unknown): string {
  const message = (value as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(value);
}
