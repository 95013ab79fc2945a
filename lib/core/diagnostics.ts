import diagnostics, { type Channel } from 'node:diagnostics_channel';
import type { OrchestratorEvent, OrchestratorEventType } from './event-types.js';

/** The prefix of every channel: `nestjs-orchestrator:<event type>`. */
export const DIAGNOSTICS_CHANNEL_PREFIX = 'nestjs-orchestrator:';

/**
 * Every event type, so that each has its channel from the start. The `satisfies` clause and
 * the check below make the compiler refuse a type missing here (or a name that is none).
 */
export const ORCHESTRATOR_EVENT_TYPES = [
  'circuit.state',
  'circuit.rejected',
  'retry.scheduled',
  'retry.gave-up',
  'retry.budget-exhausted',
  'dedupe.hit',
  'dedupe.executed',
  'backpressure.shed',
  'backpressure.waiting',
  'backpressure.soft-limit',
  'rate-limit.refused',
  'rate-limit.waiting',
  'rate-limit.cooldown',
  'rate-limit.charged',
  'pipeline.stage.started',
  'pipeline.stage.finished',
  'store.error',
  'pipeline.finished',
  'call.finished',
] as const satisfies readonly OrchestratorEventType[];

type Missing = Exclude<OrchestratorEventType, (typeof ORCHESTRATOR_EVENT_TYPES)[number]>;
// A compile error here names an event type that has no entry in the list above.
const everyTypeListed: [Missing] extends [never] ? true : Missing = true;
void everyTypeListed;

/** The name of the channel that carries events of `type`. */
export function channelName(type: OrchestratorEventType): string {
  return DIAGNOSTICS_CHANNEL_PREFIX + type;
}

/**
 * The `node:diagnostics_channel` channels of the library's events, one per event type, shared
 * by every application of the process (channels are process-wide by design: tools that hook
 * Node subscribe by name).
 *
 * Whether any channel has a subscriber is asked on hot paths (`EventSink.active`), before an
 * event object is built. Asking each channel costs about 90 ns for all of them, so the answer
 * is cached and dropped whenever one of our channels gains or loses a subscriber or a store:
 * each channel object's `subscribe`/`unsubscribe`/`bindStore`/`unbindStore` is wrapped (an own
 * property, so `diagnostics_channel.subscribe(name, fn)`, which calls the channel's method,
 * goes through it too). The wrapper calls the method of the channel's current prototype, as
 * Node itself swaps the prototype when a channel becomes active.
 */
class EventChannels {
  private readonly channels = new Map<string, Channel>();
  /** Cached "does any channel listen"; undefined once a subscription changed. */
  private listening: boolean | undefined = false;
  /** False when another copy of the package watches the channels: then never cache. */
  private cacheable = true;

  constructor(types: readonly string[]) {
    for (const type of types) this.channelOf(type);
    this.listening = undefined;
  }

  /** True when at least one channel has a subscriber (or a bound store). */
  get active(): boolean {
    if (!this.cacheable) return this.anyListening();
    return (this.listening ??= this.anyListening());
  }

  /** Publishes `event` on its type's channel; builds nothing when that channel has no subscriber. */
  publish(event: OrchestratorEvent): void {
    const channel = this.channelOf(event.type);
    if (channel.hasSubscribers) channel.publish(event);
  }

  private anyListening(): boolean {
    for (const channel of this.channels.values()) if (channel.hasSubscribers) return true;
    return false;
  }

  private channelOf(type: string): Channel {
    let channel = this.channels.get(type);
    if (channel === undefined) {
      channel = diagnostics.channel(DIAGNOSTICS_CHANNEL_PREFIX + type);
      this.watch(channel);
      this.channels.set(type, channel);
      this.listening = undefined;
    }
    return channel;
  }

  /** Drops the cached answer whenever the channel's subscribers or stores change. */
  private watch(channel: Channel): void {
    const forget = () => {
      this.listening = undefined;
    };
    for (const method of ['subscribe', 'unsubscribe', 'bindStore', 'unbindStore'] as const) {
      if (Object.hasOwn(channel, method)) {
        this.cacheable = false; // another copy of the package watches it
        continue;
      }
      Object.defineProperty(channel, method, {
        configurable: true,
        writable: true,
        value(this: Channel, ...args: unknown[]): unknown {
          try {
            const current = (Object.getPrototypeOf(this) as Record<string, Function>)[method];
            return current.apply(this, args);
          } finally {
            forget();
          }
        },
      });
    }
  }
}

/**
 * The process's event channels. One instance per copy of the package; a second copy finds the
 * channel objects already watched by the first, so it reads them at every `active` check
 * (correct, merely slower).
 */
export const eventChannels = new EventChannels(ORCHESTRATOR_EVENT_TYPES);
