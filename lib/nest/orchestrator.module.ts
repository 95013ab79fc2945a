import { DiscoveryModule } from '@nestjs/core';
import { Logger, Module, type DynamicModule, type Provider } from '@nestjs/common';
import { systemClock, type Clock } from '../core/clock.js';
import { EventBus } from '../core/events.js';
import { InvalidOptionsError } from '../core/invalid-options.error.js';
import { PolicyEngine } from '../core/policy-engine.js';
import type { PolicyKind } from '../core/policy-kind.js';
import { STORED_KINDS } from '../kinds/policy-kinds.js';
import {
  ORCHESTRATOR_CLOCK,
  ORCHESTRATOR_EVENTS,
  ORCHESTRATOR_MODULE_OPTIONS,
  ORCHESTRATOR_RESOLVED_OPTIONS,
} from './orchestrator.constants.js';
import { errorMappingProvider } from './orchestrator-errors.interceptor.js';
import { OrchestratorEventLogger } from './orchestrator-event-logger.js';
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
function storeProvider(kind: PolicyKind): Provider {
  return {
    provide: kind.store!.token,
    useFactory: (o: Options, clock: Clock) =>
      (o.stores as Record<string, unknown> | undefined)?.[kind.section] ??
      kind.store!.inMemory(clock),
    inject: [ORCHESTRATOR_RESOLVED_OPTIONS, ORCHESTRATOR_CLOCK],
  };
}

/** The application's policy state, over the stores as Nest resolved them (overrides included). */
const engineProvider: Provider = {
  provide: PolicyEngine,
  useFactory: (o: Options, clock: Clock, events: EventBus, ...stores: unknown[]) => {
    const logger = new Logger('Orchestrator');
    return new PolicyEngine({
      stores: new Map(STORED_KINDS.map((kind, i) => [kind.section, stores[i]])),
      policies: o.policies ?? {},
      clock,
      events,
      logger: { warn: (message) => logger.warn(message) },
    });
  },
  inject: [
    ORCHESTRATOR_RESOLVED_OPTIONS,
    ORCHESTRATOR_CLOCK,
    ORCHESTRATOR_EVENTS,
    ...STORED_KINDS.map((kind) => kind.store!.token),
  ],
};

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
  { provide: ORCHESTRATOR_EVENTS, useFactory: () => new EventBus() },
  ...STORED_KINDS.map(storeProvider),
  engineProvider,
  Orchestrator,
  OrchestratorExplorer,
  errorMappingProvider,
  OrchestratorEventLogger,
];

const exportedTokens = [
  Orchestrator,
  ...STORED_KINDS.map((kind) => kind.store!.token),
  ORCHESTRATOR_CLOCK,
  // For the optional integrations (nestjs-orchestrator/otel): they read the bus and the engine.
  ORCHESTRATOR_EVENTS,
  PolicyEngine,
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
