import 'reflect-metadata';
import { describe, it, expect } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { CircuitBreaker, Retry, OrchestratorModule, Orchestrator } from '../lib/index.js';

@Injectable()
class Svc {
  calls = 0;
  @CircuitBreaker({ threshold: 2 })
  @Retry({ maxAttempts: 3, baseDelayMs: 1, jitter: 'none' })
  async flaky(): Promise<number> {
    this.calls++;
    if (this.calls < 3) throw new Error('boom');
    return this.calls;
  }
}
describe('smoke', () => {
  it('works', async () => {
    const mod = await Test.createTestingModule({ imports: [OrchestratorModule.forRoot()], providers: [Svc] }).compile();
    const app = mod.createNestApplication(); await app.init();
    const svc = app.get(Svc);
    expect(await svc.flaky()).toBe(3);
    expect(app.get(Orchestrator).circuits()).toEqual(['Svc.flaky']);
    await app.close();
  });
});
