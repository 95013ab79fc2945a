import type { FactoryProvider, ModuleMetadata, Type } from '@nestjs/common';
import type { Clock } from '../core/clock.js';
import type { OrchestratorStores, PolicyOptions } from '../kinds/policy-kinds.js';

/**
 * Options of `OrchestratorModule.forRoot()`.
 *
 * @publicApi
 */
export interface OrchestratorModuleOptions {
  /** Register the module globally, so feature modules need not import it. @default true */
  isGlobal?: boolean;
  /** Named policies that decorators and pipeline stages refer to by name. */
  policies?: Record<string, PolicyOptions>;
  /** Swap any store; absent ones are in-memory (process-local). */
  stores?: Partial<OrchestratorStores>;
  /**
   * Map the library's refusals thrown by any handler to the transport's exception
   * (`HttpException` with `Retry-After`, `RpcException`, `WsException`, `GraphQLError`) through
   * a global interceptor, so the application's own filters see an ordinary exception.
   * See docs/errors.md. @default true
   */
  mapErrors?: boolean;
  /** The source of time; tests pass a fake clock. @default the system clock */
  clock?: Clock;
}

/**
 * A class that builds the module options, for `forRootAsync({ useClass })` or `useExisting`.
 *
 * @publicApi
 */
export interface OrchestratorOptionsFactory {
  createOrchestratorOptions(): OrchestratorModuleOptions | Promise<OrchestratorModuleOptions>;
}

/**
 * Options of `OrchestratorModule.forRootAsync()`: exactly one of `useFactory`, `useClass`,
 * `useExisting`.
 *
 * @publicApi
 */
export interface OrchestratorModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  /** @default true */
  isGlobal?: boolean;
  useFactory?: (...args: any[]) => OrchestratorModuleOptions | Promise<OrchestratorModuleOptions>;
  inject?: FactoryProvider['inject'];
  useClass?: Type<OrchestratorOptionsFactory>;
  useExisting?: Type<OrchestratorOptionsFactory>;
}
