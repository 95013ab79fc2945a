import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { BackpressureStore } from '../backpressure/backpressure.store.js';
import { InMemoryBackpressureStore } from '../backpressure/in-memory-backpressure.store.js';
import { CircuitBreakerStore } from '../circuit-breaker/circuit-breaker.store.js';
import { InMemoryCircuitBreakerStore } from '../circuit-breaker/in-memory-circuit-breaker.store.js';
import { systemClock, type Clock } from '../core/clock.js';
import { InvalidOptionsError } from '../core/invalid-options.error.js';
import { DedupeStore } from '../dedupe/dedupe.store.js';
import { InMemoryDedupeStore } from '../dedupe/in-memory-dedupe.store.js';
import {
  ORCHESTRATOR_CLOCK,
  ORCHESTRATOR_MODULE_OPTIONS,
  ORCHESTRATOR_RESOLVED_OPTIONS,
} from './orchestrator.constants.js';
import { errorMappingProvider } from './orchestrator-errors.interceptor.js';
import { OrchestratorExplorer } from './orchestrator.explorer.js';
import type {
  OrchestratorModuleAsyncOptions,
  OrchestratorModuleOptions,
  OrchestratorOptionsFactory,
} from './orchestrator-options.interface.js';
import { Orchestrator } from './orchestrator.service.js';
import { resolveModuleOptions } from './resolve-module-options.js';

type Options = OrchestratorModuleOptions;

/** Each store falls back to its in-memory implementation when `stores` does not provide one. */
const storeProviders: Provider[] = [
  {
    provide: CircuitBreakerStore,
    useFactory: (o: Options, clock: Clock) =>
      o.stores?.circuitBreaker ?? new InMemoryCircuitBreakerStore(clock),
    inject: [ORCHESTRATOR_RESOLVED_OPTIONS, ORCHESTRATOR_CLOCK],
  },
  {
    provide: DedupeStore,
    useFactory: (o: Options, clock: Clock) => o.stores?.dedupe ?? new InMemoryDedupeStore(clock),
    inject: [ORCHESTRATOR_RESOLVED_OPTIONS, ORCHESTRATOR_CLOCK],
  },
  {
    provide: BackpressureStore,
    useFactory: (o: Options, clock: Clock) =>
      o.stores?.backpressure ?? new InMemoryBackpressureStore(clock),
    inject: [ORCHESTRATOR_RESOLVED_OPTIONS, ORCHESTRATOR_CLOCK],
  },
];

const coreProviders: Provider[] = [
  {
    provide: ORCHESTRATOR_RESOLVED_OPTIONS,
    useFactory: resolveModuleOptions,
    inject: [ORCHESTRATOR_MODULE_OPTIONS],
  },
  {
    provide: ORCHESTRATOR_CLOCK,
    useFactory: (o: Options) => o.clock ?? systemClock,
    inject: [ORCHESTRATOR_RESOLVED_OPTIONS],
  },
  ...storeProviders,
  Orchestrator,
  OrchestratorExplorer,
  errorMappingProvider,
];

const exportedTokens = [
  Orchestrator,
  CircuitBreakerStore,
  DedupeStore,
  BackpressureStore,
  ORCHESTRATOR_CLOCK,
];

/**
 * Retry, circuit breaker, dedupe and backpressure for a Nest application: import it once with
 * named policies, then decorate methods.
 *
 * @publicApi
 * @example
 * \@Module({
 *   imports: [OrchestratorModule.forRoot({ policies: { openai: { retry: { maxAttempts: 3 } } } })],
 * })
 * export class AppModule {}
 */
@Module({})
export class OrchestratorModule {
  static forRoot(options: OrchestratorModuleOptions = {}): DynamicModule {
    return {
      module: OrchestratorModule,
      global: options.isGlobal ?? true,
      imports: [DiscoveryModule],
      providers: [{ provide: ORCHESTRATOR_MODULE_OPTIONS, useValue: options }, ...coreProviders],
      exports: exportedTokens,
    };
  }

  static forRootAsync(options: OrchestratorModuleAsyncOptions): DynamicModule {
    return {
      module: OrchestratorModule,
      global: options.isGlobal ?? true,
      imports: [DiscoveryModule, ...(options.imports ?? [])],
      providers: [...asyncOptionsProviders(options), ...coreProviders],
      exports: exportedTokens,
    };
  }
}

function asyncOptionsProviders(options: OrchestratorModuleAsyncOptions): Provider[] {
  if (options.useFactory) {
    const { useFactory, inject = [] } = options;
    return [{ provide: ORCHESTRATOR_MODULE_OPTIONS, useFactory, inject }];
  }
  const factoryClass = options.useClass ?? options.useExisting;
  if (!factoryClass) {
    throw new InvalidOptionsError(
      'OrchestratorModule.forRootAsync',
      'needs one of useFactory, useClass or useExisting',
    );
  }
  const fromFactory: Provider = {
    provide: ORCHESTRATOR_MODULE_OPTIONS,
    useFactory: (factory: OrchestratorOptionsFactory) => factory.createOrchestratorOptions(),
    inject: [factoryClass],
  };
  return options.useClass ? [fromFactory, options.useClass] : [fromFactory];
}
