import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import diagnostics from 'node:diagnostics_channel';
import { EventBus, type OrchestratorEvent } from '../../lib/core/events.js';
import { CircuitBreakerPolicy, CircuitOpenError } from '../../lib/index.js';
import { FakeClock } from '../support/fake-clock.js';

const STATE = 'nestjs-orchestrator:circuit.state';
const REJECTED = 'nestjs-orchestrator:circuit.rejected';
const undo: Array<() => void> = [];

function subscribe(name: string, listener: (message: unknown) => void): void {
  diagnostics.subscribe(name, listener);
  undo.push(() => diagnostics.unsubscribe(name, listener));
}

afterEach(() => {
  for (const step of undo.splice(0).reverse()) step();
});

/** A breaker that opens after one failure, reporting on `bus`. */
function breaker(bus: EventBus): CircuitBreakerPolicy {
  const clock = new FakeClock();
  return new CircuitBreakerPolicy('llm', { threshold: 1, recoveryWindowMs: 1_000 }, undefined, {
    clock,
    events: bus,
  });
}

async function openTheCircuit(policy: CircuitBreakerPolicy): Promise<void> {
  await policy
    .call(() => Promise.reject(new Error('down')))
    .catch((error: unknown) => expect((error as Error).message).toBe('down'));
}

describe('diagnostics_channel', () => {
  it('is inactive while neither events$ nor any channel has a listener', () => {
    const bus = new EventBus();
    expect(bus.active).toBe(false);
    subscribe(STATE, () => undefined);
    expect(bus.active).toBe(true);
    undo.pop()!();
    expect(bus.active).toBe(false);
  });

  it('publishes each event on the channel of its type, with nobody on events$', async () => {
    const bus = new EventBus();
    const states: unknown[] = [];
    const rejections: unknown[] = [];
    subscribe(STATE, (message) => states.push(message));
    subscribe(REJECTED, (message) => rejections.push(message));
    const policy = breaker(bus);
    await openTheCircuit(policy);
    await expect(policy.call(() => 'never')).rejects.toBeInstanceOf(CircuitOpenError);
    expect(states).toEqual([
      expect.objectContaining({
        type: 'circuit.state',
        circuit: 'llm',
        from: 'closed',
        to: 'open',
      }),
    ]);
    expect(rejections).toEqual([expect.objectContaining({ type: 'circuit.rejected' })]);
  });

  it('hands events$ and the channel the same event object, once each', () => {
    const bus = new EventBus();
    const fromBus: OrchestratorEvent[] = [];
    const fromChannel: unknown[] = [];
    const subscription = bus.events$.subscribe((event) => fromBus.push(event));
    subscribe('nestjs-orchestrator:dedupe.hit', (message) => fromChannel.push(message));
    const event: OrchestratorEvent = { type: 'dedupe.hit', dedupe: 'd', source: 'cache' };
    bus.emit(event);
    subscription.unsubscribe();
    expect(fromBus).toEqual([event]);
    expect(fromChannel).toHaveLength(1);
    expect(fromChannel[0]).toBe(event);
  });

  it('sees a subscriber that arrived through a bound store (AsyncLocalStorage)', async () => {
    const { AsyncLocalStorage } = await import('node:async_hooks');
    const bus = new EventBus();
    const store = new AsyncLocalStorage<unknown>();
    const channel = diagnostics.channel(STATE);
    channel.bindStore(store, (message) => message);
    undo.push(() => channel.unbindStore(store));
    expect(bus.active).toBe(true);
  });

  it('keeps a call unchanged when a subscriber throws; Node reports the error as uncaught', async () => {
    const bus = new EventBus();
    // Jest fails a test on any uncaught exception; the capture callback takes it first.
    const uncaught: unknown[] = [];
    process.setUncaughtExceptionCaptureCallback((error) => uncaught.push(error));
    undo.push(() => process.setUncaughtExceptionCaptureCallback(null));
    const received: unknown[] = [];
    subscribe(REJECTED, () => {
      throw new Error('subscriber bug');
    });
    subscribe(REJECTED, (message) => received.push(message));
    const policy = breaker(bus);
    await openTheCircuit(policy);
    const refusal = await policy.call(() => 'never').catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(CircuitOpenError);
    await new Promise((resolve) => setImmediate(resolve));
    expect(uncaught).toEqual([expect.objectContaining({ message: 'subscriber bug' })]);
    expect(received).toHaveLength(1); // the next subscriber still got the event
  });
});
