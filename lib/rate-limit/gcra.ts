import type { RateLimitBucket } from './rate-limit-options.js';

/**
 * The generic cell rate algorithm: a token bucket kept as one number per limit, the
 * "theoretical arrival time" (TAT). A limit of `limit` per `intervalMs` spends `intervalMs /
 * limit` ms of the bucket per unit; the bucket holds at most `intervalMs`. A reservation of n
 * units moves the TAT n spacings later and may start once TAT - start <= intervalMs, so a
 * reservation that does not fit now gets a start in the future: waiting callers are served in
 * arrival order without a queue, and one atomic update per decision is exact across processes.
 * Shared by the in-memory store and (ported to Lua) the Redis store.
 */
export function spacing(bucket: RateLimitBucket): number {
  return bucket.intervalMs / bucket.limit;
}

/** The TAT after reserving `units` at `now`, and how long the reservation must wait to start. */
export function reserveUnits(
  tat: number,
  now: number,
  units: number,
  bucket: RateLimitBucket,
): { tat: number; delayMs: number } {
  const next = Math.max(tat, now) + units * spacing(bucket);
  return { tat: next, delayMs: Math.max(0, next - bucket.intervalMs - now) };
}

/** The TAT after charging (units > 0) or returning (units < 0) units; a refund never banks credit. */
export function adjustUnits(
  tat: number,
  now: number,
  units: number,
  bucket: RateLimitBucket,
): number {
  const next = Math.max(tat, now) + units * spacing(bucket);
  return units < 0 ? Math.max(next, now) : next;
}

/** Whole units free at `now`. */
export function unitsAvailable(tat: number, now: number, bucket: RateLimitBucket): number {
  const used = Math.max(0, tat - now) / spacing(bucket);
  return Math.max(0, Math.floor(bucket.limit - used + 1e-9));
}
