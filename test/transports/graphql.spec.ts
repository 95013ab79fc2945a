import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Catch, type INestApplication } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { GraphQLModule, Query, Resolver, type GqlExceptionFilter } from '@nestjs/graphql';
import { Test } from '@nestjs/testing';
import { GraphQLError } from 'graphql';
import { Observable, of } from 'rxjs';
import {
  CircuitBreaker,
  Orchestrator,
  OrchestratorExceptionFilter,
  OrchestratorModule,
} from '../../lib/index.js';

const policies = { llm: { circuitBreaker: { name: 'llm', recoveryWindowMs: 61_000 } } };
let ran = 0;

@Resolver()
class CompletionResolver {
  @CircuitBreaker('llm')
  @Query()
  async complete(): Promise<string> {
    ran++;
    return 'ok';
  }

  @CircuitBreaker('llm')
  @Query()
  stream(): Observable<string> {
    ran++;
    return of('ok');
  }
}

/** An application's own catch-all filter: it records what it sees and reports it unchanged. */
@Catch()
class AppGqlFilter implements GqlExceptionFilter {
  static readonly seen: unknown[] = [];
  catch(exception: unknown): unknown {
    AppGqlFilter.seen.push(exception);
    return exception;
  }
}

interface GraphQLResponse {
  data: Record<string, unknown> | null;
  errors?: { message: string; path: string[]; extensions: Record<string, unknown> }[];
}

describe('library errors from a GraphQL resolver (Apollo driver on Express)', () => {
  let app: INestApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
    AppGqlFilter.seen.length = 0;
    ran = 0;
  });

  async function start(filter: unknown, mapErrors = true): Promise<string> {
    const moduleRef = await Test.createTestingModule({
      imports: [
        OrchestratorModule.forRoot({ policies, mapErrors }),
        GraphQLModule.forRoot<ApolloDriverConfig>({
          driver: ApolloDriver,
          typeDefs: 'type Query { complete: String  stream: String }',
          includeStacktraceInErrorResponses: false,
        }),
      ],
      providers: [CompletionResolver, { provide: APP_FILTER, useClass: filter as never }],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    await app.get(Orchestrator).circuit('llm').open();
    return `${await app.getUrl()}/graphql`.replace(/\/\/(\[::1\]|localhost)/, '//127.0.0.1');
  }

  async function query(url: string, field: string): Promise<GraphQLResponse> {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `{ ${field} }` }),
    });
    return (await response.json()) as GraphQLResponse;
  }

  it.each(['complete', 'stream'])(
    'the app’s catch-all filter sees a GraphQLError with code and retryAfter (%s)',
    async (field) => {
      const url = await start(AppGqlFilter);

      const answer = await query(url, field);

      expect(answer.data).toEqual({ [field]: null });
      expect(answer.errors).toEqual([
        {
          message: expect.stringContaining('circuit "llm" is open'),
          path: [field],
          locations: expect.any(Array),
          extensions: { code: 'CIRCUIT_OPEN', statusCode: 503, retryAfter: 61 },
        },
      ]);
      expect(AppGqlFilter.seen).toHaveLength(1);
      expect(AppGqlFilter.seen[0]).toBeInstanceOf(GraphQLError);
      expect(ran).toBe(0);
    },
  );

  it('with mapErrors: false, OrchestratorExceptionFilter (APP_FILTER) reports the same error', async () => {
    const url = await start(OrchestratorExceptionFilter, false);
    const answer = await query(url, 'complete');
    expect(answer.errors?.[0]?.extensions).toEqual({
      code: 'CIRCUIT_OPEN',
      statusCode: 503,
      retryAfter: 61,
    });
  });
});
