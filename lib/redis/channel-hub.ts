import { bounded, noop } from './bounded.js';
import { disconnect, isCluster, type RedisClient } from './redis-client.js';

/**
 * A subscription to one channel; `ready` resolves false when SUBSCRIBE did not succeed.
 *
 * @publicApi
 */
export interface ChannelListener {
  readonly ready: Promise<boolean>;
  close(): void;
}

export type MessageHandler = (message: string) => void;

interface Channel {
  handlers: Set<MessageHandler>;
  ready: Promise<boolean>;
  failed: boolean;
}

/**
 * Pub/sub for the stores: one extra connection (a duplicate of the client, created on first
 * use), one SUBSCRIBE per channel per process however many listeners, each SUBSCRIBE bounded.
 */
export class ChannelHub {
  private readonly channels = new Map<string, Channel>();
  private subscriber?: RedisClient;
  private closed = false;

  constructor(
    private readonly client: RedisClient,
    private readonly operationTimeoutMs: number,
    /** Told of a failed SUBSCRIBE and of a handler that threw. */
    private readonly report: { failed(operation: string, error: unknown): void },
  ) {}

  /** Subscribes `handler` to `channel`. Never rejects. */
  listen(channel: string, handler: MessageHandler): ChannelListener {
    if (this.closed) return { ready: Promise.resolve(false), close: noop };
    let entry = this.channels.get(channel);
    if (entry === undefined) {
      entry = { handlers: new Set(), ready: this.subscribe(channel), failed: false };
      this.channels.set(channel, entry);
    } else if (entry.failed) {
      // The last SUBSCRIBE failed (Redis was down): a new listener tries again.
      entry.failed = false;
      entry.ready = this.subscribe(channel);
    }
    const current = entry;
    current.handlers.add(handler);
    current.ready.then((ok) => (current.failed ||= !ok), noop);
    return { ready: current.ready, close: () => this.unlisten(channel, handler) };
  }

  /** Closes the subscriber connection; later listeners get `ready` false. */
  close(): void {
    this.closed = true;
    if (this.subscriber !== undefined) disconnect(this.subscriber);
  }

  private subscribe(channel: string): Promise<boolean> {
    const subscriber = this.subscriberClient();
    const what = `SUBSCRIBE ${channel}`;
    return bounded(subscriber.subscribe(channel), this.operationTimeoutMs, what).then(
      () => true,
      (error: unknown) => {
        this.report.failed(`subscribe ${channel}`, error);
        return false;
      },
    );
  }

  private unlisten(channel: string, handler: MessageHandler): void {
    const entry = this.channels.get(channel);
    if (entry === undefined || !entry.handlers.delete(handler) || entry.handlers.size > 0) return;
    this.channels.delete(channel);
    if (this.subscriber !== undefined && !this.closed) {
      this.subscriber.unsubscribe(channel).catch(noop);
    }
  }

  /** Created on first use; ioredis re-subscribes its channels by itself after a reconnect. */
  private subscriberClient(): RedisClient {
    if (this.subscriber !== undefined) return this.subscriber;
    // The offline queue lets a SUBSCRIBE sent while (re)connecting go out once connected.
    const subscriber = isCluster(this.client)
      ? this.client.duplicate([], { enableOfflineQueue: true })
      : this.client.duplicate({ enableOfflineQueue: true, lazyConnect: false });
    subscriber.on('error', noop);
    subscriber.on('message', (channel: string, message: string) => this.deliver(channel, message));
    this.subscriber = subscriber;
    return subscriber;
  }

  private deliver(channel: string, message: string): void {
    for (const handler of this.channels.get(channel)?.handlers ?? []) {
      try {
        handler(message);
      } catch (error) {
        this.report.failed(`message on ${channel}`, error);
      }
    }
  }
}
