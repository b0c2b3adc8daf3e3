/**
 * What it shows: the same decorators give the same answers on every transport. Each transport's
 * driver serves the grant routes (one per decorator and mode, as `GrantsController` does over
 * HTTP) from a real Nest app on 127.0.0.1 and calls them with a real client of that transport,
 * with tokens shaped as each identity provider writes them. The expected answer of every call
 * comes from the routes' requirements below and the kinds each IdP's preset reads; a transport
 * must neither let a token through nor refuse it differently, and `@CurrentUser('sub')` must see
 * the token's subject.
 */
import type { GrantKind } from '../../lib';
import { JwksAuthModule } from '../../lib';
import { startIdps, type Grants, type IdpSet } from '../fixtures/idp-tokens';
import { GraphqlHttpDriver } from '../fixtures/transports/graphql-http.driver';
import { GraphqlWsDriver } from '../fixtures/transports/graphql-ws.driver';
import { httpDriver } from '../fixtures/transports/http.driver';
import { SocketIoDriver } from '../fixtures/transports/socket-io.driver';
import { TcpDriver } from '../fixtures/transports/tcp.driver';
import { WsDriver } from '../fixtures/transports/ws.driver';
import { GRANT_ROUTES, type CallOutcome, type GrantRoute, type TransportDriver } from '../fixtures/transports/transport.driver';

/** Every transport, by its driver. */
const DRIVERS: ReadonlyArray<() => TransportDriver> = [
  () => httpDriver('express'),
  () => httpDriver('fastify'),
  () => new GraphqlHttpDriver('express'),
  () => new GraphqlHttpDriver('fastify'),
  () => new GraphqlWsDriver('express'),
  () => new SocketIoDriver(),
  () => new WsDriver(),
  () => new TcpDriver(),
];


type Requirement = { kind: GrantKind; mode: 'all' | 'any'; values: string[] };
/** What each grant route demands, as its decorators say; `public` demands no token at all. */
const REQUIRES: Record<GrantRoute, Requirement[] | 'public'> = {
  open: [],
  scopesAll: [{ kind: 'scopes', mode: 'all', values: ['orders:read', 'orders:write'] }],
  scopesAny: [{ kind: 'scopes', mode: 'any', values: ['orders:read', 'orders:admin'] }],
  permissionsAll: [{ kind: 'permissions', mode: 'all', values: ['orders:read', 'orders:write'] }],
  permissionsAny: [{ kind: 'permissions', mode: 'any', values: ['orders:read', 'orders:admin'] }],
  rolesAll: [{ kind: 'roles', mode: 'all', values: ['clerk', 'auditor'] }],
  rolesAny: [{ kind: 'roles', mode: 'any', values: ['clerk', 'manager'] }],
  stacked: [
    { kind: 'scopes', mode: 'all', values: ['orders:read'] },
    { kind: 'roles', mode: 'all', values: ['manager'] },
  ],
  public: 'public',
};

/** What the tokens hold: each kind with the same values, so a kind the IdP does not read shows up as a refusal. */
const HOLDINGS: Record<string, Grants> = {
  everything: { scopes: ['orders:read', 'orders:write', 'orders:admin'], permissions: ['orders:read', 'orders:write', 'orders:admin'], roles: ['clerk', 'auditor', 'manager'] },
  'the all-of pairs': { scopes: ['orders:read', 'orders:write'], permissions: ['orders:read', 'orders:write'], roles: ['clerk', 'auditor'] },
  'one any-of value': { scopes: ['orders:admin'], permissions: ['orders:admin'], roles: ['manager'] },
  'the first values': { scopes: ['orders:read'], permissions: ['orders:read'], roles: ['clerk'] },
  nothing: {},
};

function expected(route: GrantRoute, held: Grants, carries: readonly GrantKind[], sub: string): CallOutcome['kind'] | `ok:${string}` {
  const requirements = REQUIRES[route];
  // GraphQL answers null where HTTP's JSON leaves the field out: both say "no user".
  if (requirements === 'public') return 'ok:none';
  const met = requirements.every(({ kind, mode, values }) => {
    const has = carries.includes(kind) ? (held[kind] ?? []) : [];
    return mode === 'all' ? values.every((v) => has.includes(v)) : values.some((v) => has.includes(v));
  });
  return met ? `ok:${sub}` : 'forbidden';
}

const shown = (o: CallOutcome) => (o.kind === 'ok' ? `ok:${String(o.sub ?? 'none')}` : o.kind === 'other' ? `other: ${o.detail}` : o.kind);

describe.each(DRIVERS.map((make) => [make().name, make] as const))('authorization matrix over %s', (_name, make) => {
  let set: IdpSet;
  let driver: TransportDriver;

  beforeAll(async () => {
    set = await startIdps();
    driver = make();
    await driver.start([JwksAuthModule.forRoot({ issuers: set.issuers })]);
  });
  afterAll(async () => {
    await driver?.close();
    await set?.close();
  });

  for (const idpIndex of [0, 1, 2, 3, 4]) {
    it(`IdP ${idpIndex + 1} (${['Auth0', 'Okta', 'Entra', 'Keycloak', 'Cognito'][idpIndex]}): every route × every holding answers as its decorators say`, async () => {
      const idp = set.idps[idpIndex];
      const want: Record<string, string> = {};
      const got: Record<string, string> = {};
      for (const [label, held] of Object.entries(HOLDINGS)) {
        const sub = `user-${idpIndex}-${label.replace(/\W/g, '')}`;
        const token = idp.sign(held, { sub });
        for (const route of GRANT_ROUTES) {
          const key = `${label} → ${route}`;
          // The public route is called without a token: what it holds must not matter.
          want[key] = expected(route, held, idp.carries, sub);
          got[key] = shown(await driver.call(route, REQUIRES[route] === 'public' ? undefined : token));
        }
      }
      expect(got).toEqual(want);
    });
  }

  it('no token, a malformed token and a token of an unknown issuer are unauthenticated, never forbidden', async () => {
    const foreign = set.idps[0].sign({}, { iss: 'https://elsewhere.example.com/' });
    const got = await Promise.all([driver.call('open', undefined), driver.call('scopesAll', undefined), driver.call('open', 'a.b.c'), driver.call('rolesAny', foreign)]);
    expect(got.map(shown)).toEqual(['unauthenticated', 'unauthenticated', 'unauthenticated', 'unauthenticated']);
  });
});
