import { Module, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { GraphQLModule } from '@nestjs/graphql';
import { JwksAuthModule, JwksOptionsError, JwtVerifier, jwksGraphqlWsOnConnect, type JwksAuthModuleOptions, type JwksGraphqlWsOnConnectOptions } from '../../lib';
import { TestIssuer } from '../../lib/testing';
import { HTTP_PLATFORMS, issuerOptions, type HttpPlatform } from '../fixtures/app';
import { GraphqlGrantsResolver, GraphqlGrantsSubscriptions } from '../fixtures/transports/graphql-grants.resolver';
import { subscribeOnce } from '../fixtures/transports/graphql-ws.client';

/** An app whose graphql-ws `onConnect` is `jwksGraphqlWsOnConnect(verifier)`, the verifier injected from a global JwksAuthModule. */
async function bootWithGate(options: JwksAuthModuleOptions, platform: HttpPlatform, gate: JwksGraphqlWsOnConnectOptions = {}): Promise<{ app: INestApplication; wsUrl: string }> {
  @Module({
    imports: [
      JwksAuthModule.forRoot({ ...options, isGlobal: true }),
      GraphQLModule.forRootAsync<ApolloDriverConfig>({
        driver: ApolloDriver,
        inject: [JwtVerifier],
        useFactory: (verifier: JwtVerifier) => ({
          autoSchemaFile: true,
          graphiql: false,
          subscriptions: { 'graphql-ws': { onConnect: jwksGraphqlWsOnConnect(verifier, gate) } },
        }),
      }),
    ],
    providers: [GraphqlGrantsResolver, GraphqlGrantsSubscriptions],
  })
  class GatedModule {}
  const moduleRef = await Test.createTestingModule({ imports: [GatedModule] }).compile();
  const logger = process.env.JWKS_TEST_LOGS ? undefined : (false as const);
  let app: INestApplication;
  if (platform === 'fastify') {
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    app = moduleRef.createNestApplication(new FastifyAdapter(), { logger });
  } else {
    app = moduleRef.createNestApplication({ logger });
  }
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  return { app, wsUrl: `ws://127.0.0.1:${port}/graphql` };
}

describe.each(HTTP_PLATFORMS)('jwksGraphqlWsOnConnect: refusing graphql-ws connections at connection_init (%s)', (platform) => {
  let issuer: TestIssuer;
  let app: INestApplication | undefined;
  beforeAll(async () => {
    issuer = await TestIssuer.start();
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });
  afterAll(async () => {
    await issuer.close();
  });

  it('accepts a connection with a valid token (the guard still checks the operation) and closes others with 4401', async () => {
    let wsUrl: string;
    ({ app, wsUrl } = await bootWithGate(issuerOptions(issuer), platform));
    const ok = await subscribeOnce(wsUrl, 'subscription { open }', { Authorization: `Bearer ${issuer.sign({ sub: 'alice' })}` });
    expect(ok.closed).toBeUndefined();
    expect(ok.results).toEqual([{ data: { open: 'alice' } }]);
    const now = Math.floor(Date.now() / 1000);
    for (const params of [undefined, {}, { Authorization: 'Bearer a.b.c' }, { Authorization: `Bearer ${issuer.sign({ exp: now - 5 })}` }, { Authorization: 42 }]) {
      const refused = await subscribeOnce(wsUrl, 'subscription { public }', params);
      expect(refused.closed).toEqual({ code: 4401, reason: 'Unauthorized' });
      expect(refused.results).toEqual([]);
    }
  });

  it('reads the token where its options say', async () => {
    let wsUrl: string;
    ({ app, wsUrl } = await bootWithGate(issuerOptions(issuer, { subscriptions: { token: { from: 'connectionParams', name: 'authToken' } } }), platform, { token: { from: 'connectionParams', name: 'authToken' } }));
    const ok = await subscribeOnce(wsUrl, 'subscription { open }', { authToken: issuer.sign({ sub: 'alice' }) });
    expect(ok.results).toEqual([{ data: { open: 'alice' } }]);
    expect((await subscribeOnce(wsUrl, 'subscription { open }', { Authorization: `Bearer ${issuer.sign()}` })).closed?.code).toBe(4401);
  });

  it('closes with 1013 (try again later) when no usable key set is held', async () => {
    const down = await TestIssuer.start();
    down.setFault({ status: 500 });
    try {
      let wsUrl: string;
      ({ app, wsUrl } = await bootWithGate(issuerOptions(down, { failOnWarmupError: false }), platform));
      const refused = await subscribeOnce(wsUrl, 'subscription { open }', { Authorization: `Bearer ${down.sign()}` });
      expect(refused.closed).toEqual({ code: 1013, reason: 'Try Again Later' });
    } finally {
      await app?.close();
      app = undefined;
      await down.close();
    }
  });
});

describe('jwksGraphqlWsOnConnect options', () => {
  it('refuses an invalid token source with JwksOptionsError', () => {
    const verifier = {} as JwtVerifier;
    expect(() => jwksGraphqlWsOnConnect(verifier, { token: { from: 'header' } as never })).toThrow(JwksOptionsError);
    expect(() => jwksGraphqlWsOnConnect(verifier, { token: 'authToken' as never })).toThrow(/subscriptions.token must be/);
    expect(() => jwksGraphqlWsOnConnect(verifier)).not.toThrow();
  });
});
