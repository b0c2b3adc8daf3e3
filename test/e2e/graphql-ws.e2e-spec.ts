import { Logger, UseGuards, type INestApplication } from '@nestjs/common';
import { Query, Resolver, Subscription } from '@nestjs/graphql';
import { CurrentUser, JwksAuthGuard, JwksAuthModule, JwksOptionsError, Public, type JwksAuthModuleOptions } from '../../lib';
import { FakeClock, TestIssuer } from '../../lib/testing';
import { resolveJwksOptions } from '../../lib/options/options.validator';
import { HTTP_PLATFORMS, issuerOptions } from '../fixtures/app';
import { bootGraphqlApp, GraphqlGrantsResolver, GraphqlGrantsSubscriptions, type GraphqlAppConfig } from '../fixtures/transports/graphql-grants.resolver';
import { GraphqlWsDriver } from '../fixtures/transports/graphql-ws.driver';
import { rawSubscribe, subscribeOnce, type WsOutcome } from '../fixtures/transports/graphql-ws.client';
import { graphqlOutcome } from '../fixtures/transports/graphql.outcome';
import { GRANT_ROUTES, type CallOutcome, type GrantRoute } from '../fixtures/transports/transport.driver';
import { jest } from '@jest/globals';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

/** A subscription whose `filter` and `resolve` read the user the guard put on the operation's context. */
@Resolver()
class FilteredSubscriptions {
  @UseGuards(JwksAuthGuard)
  @Subscription(() => String, {
    filter: (payload: { owner: string }, _vars: unknown, context: { user?: { sub?: string } }) => payload.owner === context.user?.sub,
    resolve: (payload: { owner: string; n: number }, _args: unknown, context: { user?: { sub?: string } }) => `${context.user?.sub}:${payload.n}`,
  })
  mine(): AsyncGenerator<{ owner: string; n: number }> {
    return (async function* () {
      yield { owner: 'bob', n: 1 };
      yield { owner: 'alice', n: 2 };
      yield { owner: 'bob', n: 3 };
      yield { owner: 'alice', n: 4 };
    })();
  }

  /** No guard of its own: open unless `globalGuard`. */
  @Subscription(() => String, { nullable: true, resolve: (payload: { sub: unknown }) => payload.sub })
  unguarded(@CurrentUser('sub') sub: string): AsyncGenerator<{ sub: unknown }> {
    return (async function* () {
      yield { sub: sub ?? null };
    })();
  }

  @Public()
  @Subscription(() => String, { nullable: true, resolve: (payload: { sub: unknown }) => payload.sub })
  hello(@CurrentUser('sub') sub: string): AsyncGenerator<{ sub: unknown }> {
    return (async function* () {
      yield { sub: sub ?? null };
    })();
  }

  /** A query over the same socket: graphql-ws runs queries too, with the same context. */
  @UseGuards(JwksAuthGuard)
  @Query(() => String)
  whoami(@CurrentUser('sub') sub: string): string {
    return sub;
  }
}

const PROVIDERS = [GraphqlGrantsResolver, GraphqlGrantsSubscriptions, FilteredSubscriptions];
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

/** The one result of a one-value subscription, as a transport-neutral outcome. */
function outcomeOf(outcome: WsOutcome, field: string): CallOutcome {
  if (outcome.closed) return { kind: 'other', detail: `closed ${outcome.closed.code}` };
  if (outcome.errors) return graphqlOutcome({ errors: outcome.errors }, field);
  expect(outcome.results).toHaveLength(1);
  return graphqlOutcome(outcome.results[0], field);
}

describe.each(HTTP_PLATFORMS)('JwksAuthGuard on GraphQL subscriptions over graphql-ws (%s)', (platform) => {
  let issuer: TestIssuer;
  beforeAll(async () => {
    issuer = await TestIssuer.start();
  });
  afterAll(async () => {
    await issuer.close();
  });

  const boot = (options: JwksAuthModuleOptions, graphql?: GraphqlAppConfig, clock?: FakeClock) =>
    bootGraphqlApp([JwksAuthModule.forRoot(options)], { platform, graphql, providers: PROVIDERS, clock });

  describe('with the default context and token source', () => {
    let app: INestApplication;
    let wsUrl: string;
    beforeAll(async () => {
      ({ app, wsUrl } = await boot(issuerOptions(issuer)));
    });
    afterAll(async () => {
      await app.close();
    });
    const sub = (field: string, params: unknown) => subscribeOnce(wsUrl, `subscription { ${field} }`, params);

    it('hands a valid token in connectionParams.Authorization to @CurrentUser() and yields', async () => {
      expect(outcomeOf(await sub('open', bearer(issuer.sign({ sub: 'alice' }))), 'open')).toEqual({ kind: 'ok', sub: 'alice' });
    });

    it('reads connectionParams.authorization (lower case) as well', async () => {
      expect(outcomeOf(await sub('open', { authorization: `bearer ${issuer.sign({ sub: 'alice' })}` }), 'open')).toEqual({ kind: 'ok', sub: 'alice' });
    });

    it('refuses a missing token with UNAUTHENTICATED (never a 500, never [object Object])', async () => {
      for (const params of [undefined, {}, { Authorization: '' }, { token: issuer.sign() }]) {
        const outcome = await sub('open', params);
        expect(outcomeOf(outcome, 'open')).toEqual({ kind: 'unauthenticated' });
        expect(outcome.results[0].errors?.[0].message).toBe('Unauthorized');
        expect(outcome.results[0].data ?? null).toBeNull();
      }
    });

    it('refuses garbage, expired, foreign and wrong-audience tokens with UNAUTHENTICATED', async () => {
      const foreign = await TestIssuer.start();
      try {
        const now = Math.floor(Date.now() / 1000);
        for (const token of ['a.b.c', issuer.sign({ sub: 'alice', exp: now - 10 }), foreign.sign({ sub: 'alice' }), issuer.sign({ sub: 'alice', aud: 'https://another-api' })]) {
          const outcome = await sub('open', bearer(token));
          expect(outcomeOf(outcome, 'open')).toEqual({ kind: 'unauthenticated' });
          expect(JSON.stringify(outcome)).not.toContain('alice');
        }
      } finally {
        await foreign.close();
      }
    });

    it('refuses a raw token without the Bearer scheme, and an ambiguous pair of Authorization and authorization', async () => {
      const token = issuer.sign({ sub: 'alice' });
      expect(outcomeOf(await sub('open', { Authorization: token }), 'open')).toEqual({ kind: 'unauthenticated' });
      expect(outcomeOf(await sub('open', { Authorization: `Bearer ${token}`, authorization: `Bearer ${token}` }), 'open')).toEqual({ kind: 'unauthenticated' });
      expect(outcomeOf(await sub('open', { Authorization: `Basic ${token}` }), 'open')).toEqual({ kind: 'unauthenticated' });
    });

    it('applies @Scopes/@Permissions/@Roles to subscriptions: FORBIDDEN without the grant, data with it', async () => {
      const lacking = issuer.sign({ sub: 'alice', scope: 'orders:read' });
      const holding = issuer.sign({ sub: 'alice', scope: 'orders:read orders:write' });
      expect(outcomeOf(await sub('scopesAll', bearer(lacking)), 'scopesAll')).toEqual({ kind: 'forbidden' });
      expect(outcomeOf(await sub('scopesAll', bearer(holding)), 'scopesAll')).toEqual({ kind: 'ok', sub: 'alice' });
      const forbidden = await sub('rolesAll', bearer(lacking));
      expect(forbidden.results[0].errors?.[0]).toMatchObject({ message: 'Forbidden', extensions: { code: 'FORBIDDEN' } });
    });

    it('lets a @Public() subscription through without a token', async () => {
      expect(outcomeOf(await sub('hello', {}), 'hello')).toEqual({ kind: 'ok', sub: null });
      expect(outcomeOf(await sub('public', undefined), 'public')).toEqual({ kind: 'ok', sub: null });
    });

    it("puts the user on the operation's context for filter and resolve", async () => {
      const outcome = await sub('mine', bearer(issuer.sign({ sub: 'alice' })));
      expect(outcome.results.map((r) => r.data?.mine)).toEqual(['alice:2', 'alice:4']);
    });

    it('guards a query sent over the socket the same way', async () => {
      expect(outcomeOf(await subscribeOnce(wsUrl, '{ whoami }', bearer(issuer.sign({ sub: 'alice' }))), 'whoami')).toEqual({ kind: 'ok', sub: 'alice' });
      const refused = await subscribeOnce(wsUrl, '{ whoami }', {});
      expect(refused.results[0].errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
    });

    it('keeps users of concurrent connections apart', async () => {
      const names = Array.from({ length: 12 }, (_, i) => `user-${i}`);
      const outcomes = await Promise.all(names.map((name) => sub('open', bearer(issuer.sign({ sub: name })))));
      expect(outcomes.map((o) => outcomeOf(o, 'open'))).toEqual(names.map((name) => ({ kind: 'ok', sub: name })));
    });

    it('never crashes on hostile connectionParams: non-objects, huge values, non-string values', async () => {
      const query = 'subscription { open }';
      const huge = 'x'.repeat(2 * 1024 * 1024);
      // graphql-ws itself refuses a non-object payload (4400, its protocol); everything else reaches the guard.
      const protocolRefused = ['"Bearer abc"', '["Bearer","abc"]', '42'];
      const reachGuard = [
        { Authorization: `Bearer ${huge}` },
        { Authorization: `Bearer ${'a '.repeat(200_000)}x` },
        { Authorization: ['Bearer a.b.c'] },
        { Authorization: { toString: 'Bearer a.b.c' } },
        { Authorization: 12 },
        { Authorization: null },
        { authorization: true, Authorization: 'Bearer a.b.c' },
        Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, i])),
      ].map((payload) => JSON.stringify({ type: 'connection_init', payload }));
      reachGuard.push('{"type":"connection_init","payload":{"__proto__":{"Authorization":"Bearer a.b.c"}}}');
      for (const payload of protocolRefused) {
        const { closed } = await rawSubscribe(wsUrl, `{"type":"connection_init","payload":${payload}}`, query);
        expect(closed?.code).toBe(4400);
      }
      for (const init of reachGuard) {
        const started = Date.now();
        const { messages, closed } = await rawSubscribe(wsUrl, init, query);
        expect(closed).toBeNull();
        const next = messages.find((m) => m.type === 'next') as { payload: { errors?: { extensions?: { code?: string } }[] } } | undefined;
        expect(next?.payload.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
        expect(Date.now() - started).toBeLessThan(2000);
      }
      // Still serving.
      expect(outcomeOf(await sub('open', bearer(issuer.sign({ sub: 'alice' }))), 'open')).toEqual({ kind: 'ok', sub: 'alice' });
    });
  });

  describe('the grant matrix through the graphql-ws driver', () => {
    const driver = new GraphqlWsDriver(platform);
    beforeAll(async () => {
      await driver.start([JwksAuthModule.forRoot(issuerOptions(issuer))]);
    });
    afterAll(async () => {
      await driver.close();
    });

    const expected: Record<GrantRoute, [CallOutcome['kind'], CallOutcome['kind']]> = {
      // [a token with scope orders:read and roles clerk, a token with everything]
      open: ['ok', 'ok'],
      scopesAll: ['forbidden', 'ok'],
      scopesAny: ['ok', 'ok'],
      permissionsAll: ['forbidden', 'ok'],
      permissionsAny: ['ok', 'ok'],
      rolesAll: ['forbidden', 'ok'],
      rolesAny: ['ok', 'ok'],
      stacked: ['forbidden', 'ok'],
      public: ['ok', 'ok'],
    };

    it.each(GRANT_ROUTES)('%s', async (route) => {
      const some = issuer.sign({ sub: 'alice', scope: 'orders:read', permissions: ['orders:read'], roles: ['clerk'] });
      const all = issuer.sign({ sub: 'alice', scope: 'orders:read orders:write', permissions: ['orders:read', 'orders:write'], roles: ['clerk', 'auditor', 'manager'] });
      const [withSome, withAll] = expected[route];
      const sub = route === 'public' ? null : 'alice';
      expect(await driver.call(route, some)).toEqual(withSome === 'ok' ? { kind: 'ok', sub: route === 'public' ? null : 'alice' } : { kind: withSome });
      expect(await driver.call(route, all)).toEqual(withAll === 'ok' ? { kind: 'ok', sub } : { kind: withAll });
      expect(await driver.call(route, undefined)).toEqual(route === 'public' ? { kind: 'ok', sub: null } : { kind: 'unauthenticated' });
    });
  });

  describe('token sources (subscriptions.token)', () => {
    let app: INestApplication | undefined;
    afterEach(async () => {
      await app?.close();
      app = undefined;
    });

    it('reads a named connectionParams entry as a whole value ({ from: connectionParams, name: authToken })', async () => {
      let wsUrl: string;
      ({ app, wsUrl } = await boot(issuerOptions(issuer, { subscriptions: { token: { from: 'connectionParams', name: 'authToken' } } })));
      const token = issuer.sign({ sub: 'alice' });
      expect(outcomeOf(await subscribeOnce(wsUrl, 'subscription { open }', { authToken: token }), 'open')).toEqual({ kind: 'ok', sub: 'alice' });
      expect(outcomeOf(await subscribeOnce(wsUrl, 'subscription { open }', bearer(token)), 'open')).toEqual({ kind: 'unauthenticated' });
      expect(outcomeOf(await subscribeOnce(wsUrl, 'subscription { open }', { authToken: 7 }), 'open')).toEqual({ kind: 'unauthenticated' });
    });

    it('reads a named entry with the Bearer scheme when asked', async () => {
      let wsUrl: string;
      ({ app, wsUrl } = await boot(issuerOptions(issuer, { subscriptions: { token: { from: 'connectionParams', name: 'auth', scheme: 'Bearer' } } })));
      const token = issuer.sign({ sub: 'alice' });
      expect(outcomeOf(await subscribeOnce(wsUrl, 'subscription { open }', { auth: `Bearer ${token}` }), 'open')).toEqual({ kind: 'ok', sub: 'alice' });
      expect(outcomeOf(await subscribeOnce(wsUrl, 'subscription { open }', { auth: token }), 'open')).toEqual({ kind: 'unauthenticated' });
    });

    it('calls a function with connectionParams and the graphql-ws context', async () => {
      const seen: unknown[] = [];
      let wsUrl: string;
      ({ app, wsUrl } = await boot(
        issuerOptions(issuer, {
          subscriptions: {
            token: (params, context) => {
              seen.push(typeof (context as { extra?: { request?: { headers?: unknown } } }).extra?.request?.headers);
              const headers = params?.headers as Record<string, unknown> | undefined;
              return typeof headers?.Authorization === 'string' ? headers.Authorization.replace(/^Bearer /, '') : null;
            },
          },
        }),
      ));
      const token = issuer.sign({ sub: 'alice' });
      expect(outcomeOf(await subscribeOnce(wsUrl, 'subscription { open }', { headers: { Authorization: `Bearer ${token}` } }), 'open')).toEqual({ kind: 'ok', sub: 'alice' });
      expect(seen).toEqual(['object']);
      expect(outcomeOf(await subscribeOnce(wsUrl, 'subscription { open }', {}), 'open')).toEqual({ kind: 'unauthenticated' });
    });

    it('answers UNAUTHENTICATED when the function throws or returns a non-string', async () => {
      let calls = 0;
      let wsUrl: string;
      ({ app, wsUrl } = await boot(
        issuerOptions(issuer, {
          subscriptions: {
            token: () => {
              calls++;
              if (calls === 1) throw new Error('boom');
              return 42 as unknown as string;
            },
          },
        }),
      ));
      expect(outcomeOf(await subscribeOnce(wsUrl, 'subscription { open }', bearer(issuer.sign())), 'open')).toEqual({ kind: 'unauthenticated' });
      expect(outcomeOf(await subscribeOnce(wsUrl, 'subscription { open }', bearer(issuer.sign())), 'open')).toEqual({ kind: 'unauthenticated' });
    });

    it("reads the WebSocket upgrade request the way the module's token option says ({ from: upgradeRequest })", async () => {
      let wsUrl: string;
      ({ app, wsUrl } = await boot(issuerOptions(issuer, { token: { from: 'cookie', name: 'access_token' }, subscriptions: { token: { from: 'upgradeRequest' } } })));
      const token = issuer.sign({ sub: 'alice' });
      const client = createClient({
        url: wsUrl,
        lazy: true,
        retryAttempts: 0,
        webSocketImpl: class extends WebSocket {
          constructor(url: string, protocols: string | string[]) {
            super(url, protocols, { headers: { cookie: `access_token=${token}` } });
          }
        },
      });
      try {
        const result = await new Promise<unknown>((resolve, reject) => {
          let value: unknown;
          client.subscribe({ query: 'subscription { open }' }, { next: (v) => (value = v), complete: () => resolve(value), error: reject });
        });
        expect(graphqlOutcome(result as Parameters<typeof graphqlOutcome>[0], 'open')).toEqual({ kind: 'ok', sub: 'alice' });
      } finally {
        await client.dispose();
      }
      // connectionParams are not read under this source.
      expect(outcomeOf(await subscribeOnce(wsUrl, 'subscription { open }', bearer(token)), 'open')).toEqual({ kind: 'unauthenticated' });
    });
  });

  describe('app context functions', () => {
    let app: INestApplication | undefined;
    afterEach(async () => {
      await app?.close();
      app = undefined;
    });

    it("works with an app context function that drops req (Nest puts the graphql-ws context back as req)", async () => {
      let wsUrl: string;
      ({ app, wsUrl } = await boot(issuerOptions(issuer), { context: () => ({ tenant: 'acme' }) }));
      expect(outcomeOf(await subscribeOnce(wsUrl, 'subscription { open }', bearer(issuer.sign({ sub: 'alice' }))), 'open')).toEqual({ kind: 'ok', sub: 'alice' });
    });

    it('works with a graphql-ws context of its own that passes connectionParams on', async () => {
      let wsUrl: string;
      ({ app, wsUrl } = await boot(issuerOptions(issuer), {
        // graphql-ws's own `context` (typed out of Nest's config, passed through to graphql-ws as it is).
        subscriptions: { 'graphql-ws': { context: (ctx: { connectionParams?: unknown }) => ({ connectionParams: ctx.connectionParams }) } as object },
      }));
      expect(outcomeOf(await subscribeOnce(wsUrl, 'subscription { open }', bearer(issuer.sign({ sub: 'alice' }))), 'open')).toEqual({ kind: 'ok', sub: 'alice' });
    });

    it('refuses, and says once in the log what the context lacks, when a graphql-ws context drops connectionParams', async () => {
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      try {
        let wsUrl: string;
        ({ app, wsUrl } = await boot(issuerOptions(issuer), { subscriptions: { 'graphql-ws': { context: () => ({ tenant: 'acme' }) } as object } }));
        for (let i = 0; i < 3; i++) {
          expect(outcomeOf(await subscribeOnce(wsUrl, 'subscription { open }', bearer(issuer.sign({ sub: 'alice' }))), 'open')).toEqual({ kind: 'unauthenticated' });
        }
        const hints = warn.mock.calls.filter(([message]) => String(message).includes('connectionParams'));
        expect(hints).toHaveLength(1);
      } finally {
        warn.mockRestore();
      }
    });
  });

  describe('with globalGuard: true', () => {
    let app: INestApplication;
    let wsUrl: string;
    beforeAll(async () => {
      ({ app, wsUrl } = await boot(issuerOptions(issuer, { globalGuard: true })));
    });
    afterAll(async () => {
      await app.close();
    });

    it('protects a subscription without @UseGuards and lets @Public() through', async () => {
      expect(outcomeOf(await subscribeOnce(wsUrl, 'subscription { unguarded }', {}), 'unguarded')).toEqual({ kind: 'unauthenticated' });
      expect(outcomeOf(await subscribeOnce(wsUrl, 'subscription { unguarded }', bearer(issuer.sign({ sub: 'alice' }))), 'unguarded')).toEqual({ kind: 'ok', sub: 'alice' });
      expect(outcomeOf(await subscribeOnce(wsUrl, 'subscription { hello }', {}), 'hello')).toEqual({ kind: 'ok', sub: null });
    });
  });

  describe('token expiry on a long-lived connection', () => {
    it('checks each new subscription: one started after exp is refused on the same connection', async () => {
      const clock = new FakeClock();
      const { app, wsUrl } = await boot(issuerOptions(issuer), undefined, clock);
      const now = Math.floor(clock.now() / 1000);
      const client = createClient({ url: wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false, connectionParams: bearer(issuer.sign({ sub: 'alice', iat: now, exp: now + 60 })) });
      const once = () =>
        new Promise<unknown>((resolve, reject) => {
          let value: unknown;
          client.subscribe({ query: 'subscription { open }' }, { next: (v) => (value = v), complete: () => resolve(value), error: reject });
        });
      try {
        expect(graphqlOutcome((await once()) as Parameters<typeof graphqlOutcome>[0], 'open')).toEqual({ kind: 'ok', sub: 'alice' });
        await clock.advance(61_000);
        expect(graphqlOutcome((await once()) as Parameters<typeof graphqlOutcome>[0], 'open')).toEqual({ kind: 'unauthenticated' });
      } finally {
        await client.dispose();
        await app.close();
      }
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

    it('answers SERVICE_UNAVAILABLE with retryAfter (the token is not at fault)', async () => {
      let wsUrl: string;
      ({ app, wsUrl } = await boot(issuerOptions(down, { failOnWarmupError: false })));
      const outcome = await subscribeOnce(wsUrl, 'subscription { open }', bearer(down.sign({ sub: 'alice' })));
      expect(outcomeOf(outcome, 'open')).toEqual({ kind: 'unavailable' });
      const error = outcome.results[0].errors![0];
      expect(error.message).toBe('Service Unavailable');
      expect(Number.isInteger(error.extensions?.retryAfter)).toBe(true);
      expect(error.extensions?.retryAfter as number).toBeGreaterThanOrEqual(1);
    });

    it('answers UNAUTHENTICATED with unavailableStatus: 401', async () => {
      let wsUrl: string;
      ({ app, wsUrl } = await boot(issuerOptions(down, { failOnWarmupError: false, unavailableStatus: 401 })));
      expect(outcomeOf(await subscribeOnce(wsUrl, 'subscription { open }', bearer(down.sign())), 'open')).toEqual({ kind: 'unauthenticated' });
    });
  });
});

describe('subscriptions option validation', () => {
  const base = { issuer: 'https://issuer.example/', jwksUri: 'https://issuer.example/jwks', audience: 'api' };
  const problems = (subscriptions: unknown): string[] => {
    try {
      resolveJwksOptions({ ...base, subscriptions } as JwksAuthModuleOptions);
    } catch (err) {
      expect(err).toBeInstanceOf(JwksOptionsError);
      return (err as JwksOptionsError).problems;
    }
    return [];
  };

  it('accepts the documented shapes', () => {
    for (const ok of [undefined, {}, { token: { from: 'connectionParams' } }, { token: { from: 'connectionParams', name: 'authToken', scheme: null } }, { token: { from: 'upgradeRequest' } }, { token: () => null }]) {
      expect(problems(ok)).toEqual([]);
    }
  });

  it('refuses anything else with a clear JwksOptionsError', () => {
    expect(problems('connectionParams')[0]).toMatch(/^subscriptions must be an object/);
    expect(problems({ tokn: {} })[0]).toMatch(/unknown option "subscriptions.tokn" \(did you mean "subscriptions.token"\?\)/);
    expect(problems({ token: 'Authorization' })[0]).toMatch(/^subscriptions.token must be/);
    expect(problems({ token: { from: 'header' } })[0]).toMatch(/^subscriptions.token.from must be "connectionParams" or "upgradeRequest"/);
    expect(problems({ token: { from: 'connectionParams', name: '' } })[0]).toMatch(/^subscriptions.token.name must be/);
    expect(problems({ token: { from: 'connectionParams', name: '__proto__' } })[0]).toMatch(/^subscriptions.token.name must be/);
    expect(problems({ token: { from: 'connectionParams', name: 'x'.repeat(500) } })[0]).toMatch(/^subscriptions.token.name must be/);
    expect(problems({ token: { from: 'connectionParams', scheme: 'Basic' } })[0]).toMatch(/^subscriptions.token.scheme must be "Bearer"/);
    expect(problems({ token: { from: 'upgradeRequest', name: 'x' } })[0]).toMatch(/subscriptions.token.name applies to/);
    expect(problems({ token: { from: 'connectionParams', nme: 'x' } })[0]).toMatch(/unknown option "subscriptions.token.nme"/);
  });
});
