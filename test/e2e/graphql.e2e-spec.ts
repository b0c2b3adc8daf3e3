import { Module, UseGuards, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Args, Field, GraphQLModule, Mutation, ObjectType, Query, Resolver } from '@nestjs/graphql';
import request from 'supertest';
import { CurrentUser, JwksAuthGuard, JwksAuthModule, Public, Scopes, type JwksAuthModuleOptions } from '../../lib';
import { TestIssuer } from '../../lib/testing';
import { HTTP_PLATFORMS, issuerOptions, type HttpPlatform } from '../fixtures/app';
import { GraphqlHttpDriver } from '../fixtures/transports/graphql-http.driver';
import { GRANT_ROUTES, type CallOutcome, type GrantRoute } from '../fixtures/transports/transport.driver';

@ObjectType()
class Me {
  @Field(() => String) sub!: string;
  @Field(() => String) iss!: string;
  @Field(() => String, { nullable: true }) scope?: string;
}

@Resolver()
class GuardedResolver {
  @UseGuards(JwksAuthGuard)
  @Query(() => Me)
  me(@CurrentUser() user: Me): Me {
    return user;
  }

  @UseGuards(JwksAuthGuard)
  @Query(() => String)
  mySub(@CurrentUser('sub') sub: string): string {
    return sub;
  }

  @UseGuards(JwksAuthGuard)
  @Mutation(() => String)
  rename(@Args('name', { type: () => String }) name: string, @CurrentUser('sub') sub: string): string {
    return `${sub}:${name}`;
  }

  @Public()
  @UseGuards(JwksAuthGuard)
  @Query(() => String)
  hello(): string {
    return 'world';
  }

  @UseGuards(JwksAuthGuard)
  @Scopes('orders:write')
  @Query(() => String)
  orders(): string {
    return 'orders';
  }

  /** No guard of its own: open, unless `globalGuard: true`. */
  @Query(() => String)
  unguarded(): string {
    return 'open';
  }
}

/**
 * Fastify's request does not lead to its reply, so on Fastify the refusal's headers need the reply
 * in the context (`(req, reply) => ({ req, reply })`); `defaultContext` boots without it.
 */
async function bootGraphql(options: JwksAuthModuleOptions, platform: HttpPlatform, { defaultContext = false } = {}): Promise<INestApplication> {
  const context = platform === 'fastify' && !defaultContext ? { context: (req: unknown, reply: unknown) => ({ req, reply }) } : {};
  @Module({
    imports: [
      JwksAuthModule.forRoot(options),
      // Nest's default context is `({ req }) => ({ req })`: the guard reads the token from `req`.
      GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true, graphiql: false, ...context }),
    ],
    providers: [GuardedResolver],
  })
  class GraphqlAppModule {}
  const moduleRef = await Test.createTestingModule({ imports: [GraphqlAppModule] }).compile();
  const logger = process.env.JWKS_TEST_LOGS ? undefined : (false as const);
  if (platform === 'fastify') {
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    const app = moduleRef.createNestApplication(new FastifyAdapter(), { logger });
    await app.init();
    await (app.getHttpAdapter().getInstance() as { ready(): Promise<unknown> }).ready();
    return app;
  }
  const app = moduleRef.createNestApplication({ logger });
  await app.init();
  return app;
}

type GqlBody = { data?: Record<string, unknown> | null; errors?: { message: string; path?: string[]; extensions?: Record<string, unknown> }[] };

describe.each(HTTP_PLATFORMS)('JwksAuthGuard on GraphQL resolvers (Apollo, %s)', (platform) => {
  let issuer: TestIssuer;
  beforeAll(async () => {
    issuer = await TestIssuer.start();
  });
  afterAll(async () => {
    await issuer.close();
  });

  const post = (app: INestApplication, query: string, token?: string, variables?: Record<string, unknown>) => {
    const req = request(app.getHttpServer()).post('/graphql').set('Content-Type', 'application/json');
    return (token === undefined ? req : req.set('Authorization', `Bearer ${token}`)).send({ query, variables });
  };

  /** A refusal is a GraphQL error (HTTP 200, Apollo's default), the field is null: nothing leaks. */
  const expectRefused = (res: request.Response, field: string, code = 'UNAUTHENTICATED') => {
    const body = res.body as GqlBody;
    expect(res.status).toBe(200);
    expect(body.data ?? null).toBeNull();
    expect(body.errors).toHaveLength(1);
    expect(body.errors?.[0]).toMatchObject({ path: [field], extensions: { code } });
    expect(body.errors?.[0].message).not.toContain('[object Object]');
    expect(JSON.stringify(body)).not.toContain('alice');
    return body.errors![0];
  };

  describe('with @UseGuards(JwksAuthGuard)', () => {
    let app: INestApplication;
    beforeAll(async () => {
      app = await bootGraphql(issuerOptions(issuer), platform);
    });
    afterAll(async () => {
      await app.close();
    });

    it('answers a valid token with data and hands the claims to @CurrentUser()', async () => {
      const token = issuer.sign({ sub: 'alice', scope: 'read' });
      const res = await post(app, '{ me { sub iss scope } mySub }', token).expect(200);
      expect(res.body).toEqual({ data: { me: { sub: 'alice', iss: issuer.issuer, scope: 'read' }, mySub: 'alice' } });
    });

    it('runs a mutation with a valid token and refuses it without one', async () => {
      const mutation = 'mutation Rename($name: String!) { rename(name: $name) }';
      const ok = await post(app, mutation, issuer.sign({ sub: 'alice' }), { name: 'bob' }).expect(200);
      expect(ok.body).toEqual({ data: { rename: 'alice:bob' } });
      expectRefused(await post(app, mutation, undefined, { name: 'bob' }), 'rename');
    });

    it('answers a missing grant with FORBIDDEN (never a 500), and the granted token with data', async () => {
      const error = expectRefused(await post(app, '{ orders }', issuer.sign({ sub: 'alice', scope: 'orders:read' })), 'orders', 'FORBIDDEN');
      expect(error.message).toBe('Forbidden');
      const ok = await post(app, '{ orders }', issuer.sign({ sub: 'alice', scope: 'orders:read orders:write' })).expect(200);
      expect(ok.body).toEqual({ data: { orders: 'orders' } });
    });

    it('refuses a missing token with UNAUTHENTICATED and sets the bare challenge on the response', async () => {
      const res = await post(app, '{ me { sub } }');
      const error = expectRefused(res, 'me');
      expect(error.message).toBe('Unauthorized');
      expect(res.headers['www-authenticate']).toBe('Bearer');
    });

    it('refuses garbage, expired and foreign tokens with UNAUTHENTICATED', async () => {
      const foreign = await TestIssuer.start();
      try {
        const now = Math.floor(Date.now() / 1000);
        for (const token of ['a.b.c', issuer.sign({ sub: 'alice', exp: now - 10 }), foreign.sign({ sub: 'alice' }), issuer.sign({ sub: 'alice', aud: 'https://another-api' })]) {
          const res = await post(app, '{ me { sub } }', token);
          expectRefused(res, 'me');
          expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
        }
      } finally {
        await foreign.close();
      }
    });

    it('lets a @Public() resolver through without a token, and still answers it with one', async () => {
      expect((await post(app, '{ hello }').expect(200)).body).toEqual({ data: { hello: 'world' } });
      expect((await post(app, '{ hello }', issuer.sign()).expect(200)).body).toEqual({ data: { hello: 'world' } });
    });

    it('refuses only the guarded field of a mixed query', async () => {
      const res = await post(app, '{ hello me { sub } }').expect(200);
      const body = res.body as GqlBody;
      // `me` is non-null: its null propagates to `data`, as GraphQL requires; the error names it.
      expect(body.errors).toHaveLength(1);
      expect(body.errors?.[0]).toMatchObject({ path: ['me'], extensions: { code: 'UNAUTHENTICATED' } });
    });
  });

  describe("with Nest's default context", () => {
    let app: INestApplication;
    beforeAll(async () => {
      app = await bootGraphql(issuerOptions(issuer), platform, { defaultContext: true });
    });
    afterAll(async () => {
      await app.close();
    });

    it('reads the token from the request and answers data, UNAUTHENTICATED and FORBIDDEN by code', async () => {
      expect((await post(app, '{ mySub }', issuer.sign({ sub: 'alice' })).expect(200)).body).toEqual({ data: { mySub: 'alice' } });
      expectRefused(await post(app, '{ me { sub } }'), 'me');
      expectRefused(await post(app, '{ orders }', issuer.sign({ sub: 'alice', scope: 'orders:read' })), 'orders', 'FORBIDDEN');
    });
  });

  describe('the grant matrix through the graphql-http driver', () => {
    const driver = new GraphqlHttpDriver(platform);
    beforeAll(async () => {
      await driver.start([JwksAuthModule.forRoot(issuerOptions(issuer))]);
    });
    afterAll(async () => {
      await driver.close();
    });

    // [a token with scope orders:read, permission orders:read and role clerk; a token with everything]
    const expected: Record<GrantRoute, CallOutcome['kind']> = {
      open: 'ok',
      scopesAll: 'forbidden',
      scopesAny: 'ok',
      permissionsAll: 'forbidden',
      permissionsAny: 'ok',
      rolesAll: 'forbidden',
      rolesAny: 'ok',
      stacked: 'forbidden',
      public: 'ok',
    };

    it.each(GRANT_ROUTES)('%s', async (route) => {
      const some = issuer.sign({ sub: 'alice', scope: 'orders:read', permissions: ['orders:read'], roles: ['clerk'] });
      const all = issuer.sign({ sub: 'alice', scope: 'orders:read orders:write', permissions: ['orders:read', 'orders:write'], roles: ['clerk', 'auditor', 'manager'] });
      const sub = route === 'public' ? null : 'alice';
      expect(await driver.call(route, some)).toEqual(expected[route] === 'ok' ? { kind: 'ok', sub } : { kind: expected[route] });
      expect(await driver.call(route, all)).toEqual({ kind: 'ok', sub });
      expect(await driver.call(route, undefined)).toEqual(route === 'public' ? { kind: 'ok', sub: null } : { kind: 'unauthenticated' });
    });
  });

  describe('with globalGuard: true', () => {
    let app: INestApplication;
    beforeAll(async () => {
      app = await bootGraphql(issuerOptions(issuer, { globalGuard: true }), platform);
    });
    afterAll(async () => {
      await app.close();
    });

    it('protects a resolver without @UseGuards and lets a valid token through', async () => {
      expectRefused(await post(app, '{ unguarded }'), 'unguarded');
      expect((await post(app, '{ unguarded }', issuer.sign()).expect(200)).body).toEqual({ data: { unguarded: 'open' } });
      expect((await post(app, '{ mySub }', issuer.sign({ sub: 'alice' })).expect(200)).body).toEqual({ data: { mySub: 'alice' } });
    });

    it('lets @Public() resolvers through', async () => {
      expect((await post(app, '{ hello }').expect(200)).body).toEqual({ data: { hello: 'world' } });
    });
  });

  describe('without a usable key set', () => {
    let down: TestIssuer;
    let app: INestApplication | undefined;
    beforeEach(async () => {
      down = await TestIssuer.start();
      down.setFault({ status: 500 });
    });
    afterEach(async () => {
      await app?.close();
      app = undefined;
      await down.close();
    });

    it('answers SERVICE_UNAVAILABLE with retryAfter (the token is not at fault) and sets Retry-After', async () => {
      app = await bootGraphql(issuerOptions(down, { failOnWarmupError: false }), platform);
      const res = await post(app, '{ me { sub } }', down.sign({ sub: 'alice' }));
      const error = expectRefused(res, 'me', 'SERVICE_UNAVAILABLE');
      expect(error.message).toBe('Service Unavailable');
      expect(Number.isInteger(error.extensions?.retryAfter)).toBe(true);
      expect(error.extensions?.retryAfter as number).toBeGreaterThanOrEqual(1);
      expect(res.headers['retry-after']).toBe(String(error.extensions?.retryAfter));
      expect(res.headers['www-authenticate']).toBeUndefined();
    });

    it('answers UNAUTHENTICATED when the app asks for unavailableStatus: 401', async () => {
      app = await bootGraphql(issuerOptions(down, { failOnWarmupError: false, unavailableStatus: 401 }), platform);
      const error = expectRefused(await post(app, '{ me { sub } }', down.sign({ sub: 'alice' })), 'me');
      expect(error.extensions?.retryAfter).toBeUndefined();
    });
  });
});
