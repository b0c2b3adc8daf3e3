/**
 * What it shows: `@Scopes()`, `@Permissions()` and `@Roles()`, each all-of and any-of, over real
 * HTTP, against tokens shaped as each identity provider writes them, read where its preset says
 * (the presets' issuer kept, `jwksUri` pointed at a local TestIssuer). A kind an IdP does not carry
 * there is refused even when the token has it where another IdP would put it. A refusal is a 403
 * with RFC 6750's `insufficient_scope` challenge and Nest's generic body.
 */
import { Controller, Get, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import {
  auth0Issuer,
  cognitoIssuer,
  entraIssuers,
  JwksAuthModule,
  keycloakIssuer,
  oktaIssuer,
  Public,
  Roles,
  Scopes,
  type GrantKind,
  type JwksIssuerOptions,
} from '../../lib';
import { TestIssuer } from '../../lib/testing';
import { bootApp } from '../fixtures/app';
import { GrantsController, StaffController } from '../fixtures/grants.controller';

const forRoot = JwksAuthModule.forRoot.bind(JwksAuthModule);
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const ENTRA_API = '6e74172b-be56-4843-9ff4-e66a39bb12e3';
const COGNITO_CLIENT = '3n4b5urk1ft4fl3mg5e62d9ado';
const GENERIC_403 = { statusCode: 403, message: 'Forbidden' };

type Grants = Partial<Record<GrantKind, string[]>>;
interface Idp {
  name: string;
  /** The kinds the preset reads for this IdP. */
  carries: GrantKind[];
  sign(grants: Grants): string;
}

const started: TestIssuer[] = [];
async function local(preset: JwksIssuerOptions): Promise<{ idp: TestIssuer; options: JwksIssuerOptions }> {
  const idp = await TestIssuer.start({ issuer: preset.issuer });
  started.push(idp);
  return { idp, options: { ...preset, issuer: idp.issuer, jwksUri: idp.jwksUri } };
}

/** Where the module's defaults would look: a kind an IdP's preset does not read is put here, and must not count. */
function elsewhere(grants: Grants, carries: GrantKind[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!carries.includes('permissions') && grants.permissions) out.permissions = grants.permissions;
  if (!carries.includes('roles') && grants.roles) out.roles = grants.roles;
  return out;
}

const space = (values: string[] | undefined) => (values ?? []).join(' ');

describe('authorization decorators over HTTP, per identity provider', () => {
  let app: INestApplication;
  const idps: Idp[] = [];

  beforeAll(async () => {
    const a0 = await local(auth0Issuer({ domain: 'acme.eu.auth0.com', audience: 'https://orders.example.com' }));
    const ok = await local(oktaIssuer({ domain: 'dev-123456.okta.com' }));
    const [en] = await Promise.all(entraIssuers({ tenantId: TENANT, audience: ENTRA_API }).map(local));
    const kc = await local(keycloakIssuer({ baseUrl: 'https://kc.example.com', realm: 'acme', audience: 'orders-api', clientId: 'orders-api' }));
    const cg = await local(cognitoIssuer({ userPoolId: 'eu-west-1_AbCdEf123', clientId: COGNITO_CLIENT }));
    idps.push(
      {
        name: 'Auth0 (scope, permissions)',
        carries: ['scopes', 'permissions'],
        sign: (g) => a0.idp.sign({ aud: 'https://orders.example.com', scope: space(g.scopes), ...(g.permissions ? { permissions: g.permissions } : {}), ...elsewhere(g, ['scopes', 'permissions']) }),
      },
      {
        name: 'Okta (scp as an array)',
        carries: ['scopes'],
        sign: (g) => ok.idp.sign({ aud: 'api://default', cid: '0oa1b2c3d4e5f6g7h8i9', scp: g.scopes ?? [], ...elsewhere(g, ['scopes']) }),
      },
      {
        name: 'Entra v2.0 (scp as a string, roles)',
        carries: ['scopes', 'roles'],
        sign: (g) => en.idp.sign({ aud: ENTRA_API, tid: TENANT, ver: '2.0', scp: space(g.scopes), ...(g.roles ? { roles: g.roles } : {}), ...elsewhere(g, ['scopes', 'roles']) }),
      },
      {
        name: 'Keycloak (realm roles and the client roles of clientId)',
        carries: ['scopes', 'roles'],
        sign: (g) => {
          const [realm, ...client] = g.roles ?? [];
          return kc.idp.sign({
            aud: ['orders-api', 'account'],
            azp: 'web-app',
            scope: space(g.scopes),
            realm_access: { roles: realm === undefined ? ['offline_access'] : ['offline_access', realm] },
            // Another client's roles are that client's business: never counted for this API.
            resource_access: { 'orders-api': { roles: client }, 'other-client': { roles: ['clerk', 'auditor', 'manager'] } },
            ...elsewhere(g, ['scopes', 'roles']),
          });
        },
      },
      {
        name: 'Cognito (scope, cognito:groups)',
        carries: ['scopes', 'roles'],
        sign: (g) => cg.idp.sign({ aud: undefined, token_use: 'access', client_id: COGNITO_CLIENT, scope: space(g.scopes), 'cognito:groups': g.roles ?? [], ...elsewhere(g, ['scopes', 'roles']) }),
      },
    );
    app = await bootApp({
      controllers: [GrantsController, StaffController],
      imports: [forRoot({ issuers: [a0.options, ok.options, en.options, kc.options, cg.options], strategyName: 'jwks-authz' })],
    });
  });
  afterAll(async () => {
    await app?.close();
    await Promise.all(started.map((idp) => idp.close()));
  });

  const get = (path: string, token?: string) => {
    const r = request(app.getHttpServer()).get(path);
    return token === undefined ? r : r.set('Authorization', `Bearer ${token}`);
  };

  /** Each kind's values: `all` routes need [first, second]; `any` routes accept first or third. */
  const VALUES: Record<GrantKind, [string, string, string]> = {
    scopes: ['orders:read', 'orders:write', 'orders:admin'],
    permissions: ['orders:read', 'orders:write', 'orders:admin'],
    roles: ['clerk', 'auditor', 'manager'],
  };
  /** What the token holds → [status of the all-of route, status of the any-of route]. */
  const CASES: Array<[string, (v: [string, string, string]) => string[], number, number]> = [
    ['every value', ([a, b, c]) => [a, b, c], 200, 200],
    ['the all-of pair only', ([a, b]) => [a, b], 200, 200],
    ['the first value only', ([a]) => [a], 403, 200],
    ['the other any-of value only', ([, , c]) => [c], 403, 200],
    ['an unrelated value', () => ['unrelated'], 403, 403],
    ['none', () => [], 403, 403],
  ];

  const kinds: GrantKind[] = ['scopes', 'permissions', 'roles'];
  const names = ['Auth0', 'Okta', 'Entra', 'Keycloak', 'Cognito'];
  for (const idpIndex of [0, 1, 2, 3, 4]) {
    describe(names[idpIndex], () => {
      for (const kind of kinds) {
        for (const [label, held, allStatus, anyStatus] of CASES) {
          it(`@${kind} all-of / any-of with ${label}: where the preset reads ${kind}, else refused`, async () => {
            const idp = idps[idpIndex];
            const token = idp.sign({ [kind]: held(VALUES[kind]) });
            const carried = idp.carries.includes(kind);
            // Not carried by this IdP (held where another IdP would put it): refused whatever it holds.
            const expectAll = carried ? allStatus : 403;
            const expectAny = carried ? anyStatus : 403;
            const all = await get(`/grants/${kind}/all`, token);
            const any = await get(`/grants/${kind}/any`, token);
            expect([idp.name, all.status, any.status]).toEqual([idp.name, expectAll, expectAny]);
            for (const res of [all, any]) {
              if (res.status !== 403) continue;
              expect(res.body).toEqual(GENERIC_403);
              expect(res.headers['www-authenticate']).toMatch(/^Bearer error="insufficient_scope"/);
            }
          });
        }
      }

      it('an undecorated route takes any valid token; a @Public() route with @Scopes takes none', async () => {
        const idp = idps[idpIndex];
        await get('/grants/open', idp.sign({})).expect(200);
        await get('/grants/public').expect(200);
      });
    });
  }

  it('names the required scopes (and permissions) in the challenge, never the roles', async () => {
    const auth0 = idps[0];
    const scopes = await get('/grants/scopes/all', auth0.sign({ scopes: ['orders:read'] })).expect(403);
    expect(scopes.headers['www-authenticate']).toBe('Bearer error="insufficient_scope", scope="orders:read orders:write"');
    const anyPerm = await get('/grants/permissions/any', auth0.sign({ permissions: [] })).expect(403);
    expect(anyPerm.headers['www-authenticate']).toBe(
      'Bearer error="insufficient_scope", scope="orders:read orders:admin", error_description="any one of the listed scopes is enough"',
    );
    const roles = await get('/grants/roles/all', idps[2].sign({ roles: ['clerk'] })).expect(403);
    expect(roles.headers['www-authenticate']).toBe('Bearer error="insufficient_scope", error_description="a required role is missing"');
    expect(roles.text).not.toContain('auditor');
  });

  it('two decorators on one handler: both must hold', async () => {
    const entra = idps[2];
    await get('/grants/stacked', entra.sign({ scopes: ['orders:read'], roles: ['manager'] })).expect(200);
    await get('/grants/stacked', entra.sign({ scopes: ['orders:read'] })).expect(403);
    await get('/grants/stacked', entra.sign({ roles: ['manager'] })).expect(403);
  });

  it("the controller's requirement and the handler's: both must hold", async () => {
    const cognito = idps[4];
    await get('/staff/plain', cognito.sign({ roles: ['staff'] })).expect(200);
    await get('/staff/plain', cognito.sign({ scopes: ['orders:write'] })).expect(403);
    await get('/staff/write', cognito.sign({ roles: ['staff'], scopes: ['orders:write'] })).expect(200);
    await get('/staff/write', cognito.sign({ roles: ['staff'] })).expect(403);
    await get('/staff/write', cognito.sign({ scopes: ['orders:write'] })).expect(403);
  });

  it('still answers 401, not 403, when the token is missing or refused', async () => {
    const none = await get('/grants/scopes/any').expect(401);
    expect(none.headers['www-authenticate']).toBe('Bearer');
    await get('/grants/scopes/any', 'a.b.c').expect(401);
  });
});

@Controller('global')
class GlobalGrantsController {
  @Roles('admin')
  @Get('admin')
  admin(): { ok: true } {
    return { ok: true };
  }

  @Scopes.any('a', 'b')
  @Get('scoped')
  scoped(): { ok: true } {
    return { ok: true };
  }

  @Public()
  @Roles('admin')
  @Get('public')
  open(): { ok: true } {
    return { ok: true };
  }
}

describe('authorization decorators with globalGuard and the one-issuer grantClaims', () => {
  let app: INestApplication;
  let idp: TestIssuer;
  beforeAll(async () => {
    idp = await TestIssuer.start();
    app = await bootApp({
      controllers: [GlobalGrantsController],
      imports: [
        forRoot({
          issuer: idp.issuer,
          jwksUri: idp.jwksUri,
          audience: idp.audience,
          globalGuard: true,
          strategyName: 'jwks-authz-global',
          // An Auth0 Action's namespaced claim (the dots are part of the name), and scopes by a function.
          grantClaims: { roles: 'https://example.com/roles', scopes: (claims) => String(claims.perms ?? '').split(',') },
        }),
      ],
    });
  });
  afterAll(async () => {
    await app?.close();
    await idp?.close();
  });
  const get = (path: string, token?: string) => {
    const r = request(app.getHttpServer()).get(path);
    return token === undefined ? r : r.set('Authorization', `Bearer ${token}`);
  };

  it('enforces the decorators on routes the global guard protects, reading the configured claims', async () => {
    await get('/global/admin', idp.sign({ 'https://example.com/roles': ['admin'] })).expect(200);
    await get('/global/admin', idp.sign({ roles: ['admin'] })).expect(403);
    await get('/global/scoped', idp.sign({ perms: 'x,b' })).expect(200);
    await get('/global/scoped', idp.sign({ scope: 'a b' })).expect(403);
  });

  it('skips @Public() routes and answers 401 to a missing token elsewhere', async () => {
    await get('/global/public').expect(200);
    await get('/global/admin').expect(401);
  });
});
