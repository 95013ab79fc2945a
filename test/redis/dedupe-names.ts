import { createHash } from 'node:crypto';

/** The part of Redis key and channel names that stands for a dedupe key: its SHA-256. */
export function dedupeMember(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}
