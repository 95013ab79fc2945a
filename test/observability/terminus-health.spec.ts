import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Controller, Get, Injectable, type INestApplication } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { Test } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import { CircuitBreaker, Orchestrator, OrchestratorModule } from '../../lib/index.js';
import { OrchestratorHealthIndicator } from '../../lib/terminus/index.js';

@Injectable()
class Llm {
  @CircuitBreaker({ name: 'llm' })
  async complete(): Promise<string> {
    return 'ok';
  }

  @CircuitBreaker({ name: 'search' })
  async search(): Promise<string> {
    return 'ok';
  }
}

/** Stands in for the Redis stores' backend. */
const redis = { degraded: false };

@Controller()
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly orchestrator: OrchestratorHealthIndicator,
  ) {}

  @Get('health')
  @HealthCheck()
  check() {
    return this.health.check([
      () => this.orchestrator.isHealthy('orchestrator', { circuits: ['llm'], redis }),
    ]);
  }
}

const apps: INestApplication[] = [];
afterEach(async () => {
  redis.degraded = false;
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function start() {
  const moduleRef = await Test.createTestingModule({
    imports: [OrchestratorModule.forRoot(), TerminusModule.forRoot({ logger: false })],
    controllers: [HealthController],
    providers: [Llm, OrchestratorHealthIndicator],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  apps.push(app);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  const health = async () => {
    const response = await fetch(`http://127.0.0.1:${port}/health`);
    return { status: response.status, body: (await response.json()) as any };
  };
  return { orchestrator: app.get(Orchestrator), health };
}

describe('OrchestratorHealthIndicator (nestjs-orchestrator/terminus)', () => {
  it('is up while the chosen circuits are closed, with their states in the details', async () => {
    const { health } = await start();
    const { status, body } = await health();
    expect(status).toBe(200);
    expect(body.details.orchestrator).toEqual({
      status: 'up',
      circuits: { llm: 'closed' },
      redis: 'available',
    });
  });

  it('is down (503) while a chosen circuit is open, up again once it closes', async () => {
    const { orchestrator, health } = await start();
    await orchestrator.circuit('llm').open();
    const down = await health();
    expect(down.status).toBe(503);
    expect(down.body.details.orchestrator).toEqual(
      expect.objectContaining({ status: 'down', message: 'circuit "llm" is open' }),
    );
    await orchestrator.circuit('llm').close();
    expect((await health()).status).toBe(200);
  });

  it('ignores a circuit it was not asked about', async () => {
    const { orchestrator, health } = await start();
    await orchestrator.circuit('search').open();
    expect((await health()).status).toBe(200);
  });

  it('is down while the Redis stores are degraded', async () => {
    const { health } = await start();
    redis.degraded = true;
    const { status, body } = await health();
    expect(status).toBe(503);
    expect(body.details.orchestrator).toEqual(
      expect.objectContaining({ redis: 'degraded', message: 'the Redis stores are degraded' }),
    );
  });
});
