/** One limit of the fake provider: a token bucket that refills continuously, like OpenAI's. */
class Bucket {
  private level: number;
  private updatedAt: number;

  constructor(
    readonly limit: number,
    now: number,
  ) {
    this.level = limit;
    this.updatedAt = now;
  }

  /** Units per ms: the whole limit comes back over a minute. */
  private get rate(): number {
    return this.limit / 60_000;
  }

  refill(now: number): void {
    this.level = Math.min(this.limit, this.level + (now - this.updatedAt) * this.rate);
    this.updatedAt = now;
  }

  /** Whole units left now. */
  remaining(): number {
    return Math.max(0, Math.floor(this.level));
  }

  /** Ms until `units` are available (0 when they are). */
  waitFor(units: number): number {
    return units <= this.level ? 0 : Math.ceil((units - this.level) / this.rate);
  }

  /** Ms until the bucket is full again: OpenAI's `x-ratelimit-reset-*`. */
  untilFull(): number {
    return Math.ceil((this.limit - this.level) / this.rate);
  }

  take(units: number): void {
    this.level -= units;
  }
}

export interface RateLimitVerdict {
  /** False when the request exceeds a limit: answer 429 with `retry-after`. */
  allowed: boolean;
  /** `x-ratelimit-*` headers (and `retry-after` on a refusal). */
  headers: Record<string, string>;
}

/**
 * The fake provider's own limits: requests per minute and tokens per minute, each a bucket that
 * refills continuously. A request is admitted when both have room for it (1 request and its
 * total tokens), and charged at once; a refused request is charged nothing.
 */
export class ProviderRateLimits {
  private requests: Bucket | undefined;
  private tokens: Bucket | undefined;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Sets the limits (`undefined`: none); a changed limit starts full. */
  configure(requestsPerMinute: number | undefined, tokensPerMinute: number | undefined): void {
    this.requests = this.rebuild(this.requests, requestsPerMinute);
    this.tokens = this.rebuild(this.tokens, tokensPerMinute);
  }

  /** Refills both buckets to their limits. */
  reset(): void {
    this.requests = this.rebuild(undefined, this.requests?.limit);
    this.tokens = this.rebuild(undefined, this.tokens?.limit);
  }

  admit(totalTokens: number): RateLimitVerdict {
    const now = this.now();
    this.requests?.refill(now);
    this.tokens?.refill(now);
    const waitMs = Math.max(this.requests?.waitFor(1) ?? 0, this.tokens?.waitFor(totalTokens) ?? 0);
    if (waitMs > 0) {
      const headers = this.headers();
      headers['retry-after'] = String(Math.max(1, Math.ceil(waitMs / 1000)));
      headers['retry-after-ms'] = String(waitMs);
      return { allowed: false, headers };
    }
    this.requests?.take(1);
    this.tokens?.take(totalTokens);
    return { allowed: true, headers: this.headers() };
  }

  private headers(): Record<string, string> {
    const headers: Record<string, string> = {};
    for (const [kind, bucket] of [
      ['requests', this.requests],
      ['tokens', this.tokens],
    ] as const) {
      if (!bucket) continue;
      headers[`x-ratelimit-limit-${kind}`] = String(bucket.limit);
      headers[`x-ratelimit-remaining-${kind}`] = String(bucket.remaining());
      headers[`x-ratelimit-reset-${kind}`] = formatDuration(bucket.untilFull());
    }
    return headers;
  }

  private rebuild(current: Bucket | undefined, limit: number | undefined): Bucket | undefined {
    if (limit === undefined) return undefined;
    if (current?.limit === limit) return current;
    return new Bucket(limit, this.now());
  }
}

/** OpenAI's duration format: `0s`, `120ms`, `1s`, `1.5s`, `6m0s`, `1h2m3s`. */
export function formatDuration(ms: number): string {
  if (ms <= 0) return '0s';
  if (ms < 1000) return `${Math.ceil(ms)}ms`;
  const totalSeconds = ms / 1000;
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = Math.floor((totalSeconds % 60) * 1000) / 1000;
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}
