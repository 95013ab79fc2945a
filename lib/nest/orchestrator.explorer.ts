import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper.js';
import { PolicyEngine } from '../core/policy-engine.js';
import { bindChain, protectedMethodsOf } from '../core/protected-method.js';

/**
 * Binds every provider and controller instance with decorated methods to its compiled chains,
 * once, at bootstrap. The module is global by default, and Nest runs a global module's hooks
 * first, so the binding is in place before other modules' `onModuleInit` hooks call methods.
 */
@Injectable()
export class OrchestratorExplorer implements OnModuleInit {
  private readonly logger = new Logger('OrchestratorModule');

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly engine: PolicyEngine,
  ) {}

  onModuleInit(): void {
    this.logStores();
    const wrappers = [...this.discovery.getProviders(), ...this.discovery.getControllers()];
    for (const wrapper of wrappers) this.bind(wrapper);
  }

  private bind(wrapper: InstanceWrapper): void {
    const { instance } = wrapper;
    if (!wrapper.isDependencyTreeStatic()) return this.warnIfProtected(wrapper);
    if (typeof instance !== 'object' || instance === null) return;
    for (const method of protectedMethodsOf(instance)) {
      bindChain(instance, method, this.engine.compile(method));
    }
  }

  /** Request-scoped instances are created per request, after bootstrap, so they stay unbound. */
  private warnIfProtected(wrapper: InstanceWrapper): void {
    const prototype = (wrapper.metatype as Function | undefined)?.prototype;
    if (!prototype) return;
    const methods = protectedMethodsOf(Object.create(prototype));
    if (methods.length === 0) return;
    const names = methods.map((m) => `${m.className}.${m.methodName}`).join(', ');
    this.logger.warn(
      `${names} ${methods.length > 1 ? 'are' : 'is'} on a request-scoped provider: each instance gets private in-memory state (no shared circuit, cap or dedupe) and named policies fail. Move the protected method to a singleton provider.`,
    );
  }

  private logStores(): void {
    const stores = [...this.engine.deps.stores].map(
      ([section, store]) => `${section}=${(store as object).constructor.name}`,
    );
    this.logger.log(`stores: ${stores.join(', ')}`);
  }
}
