/**
 * What it shows: `@Scopes()`, `@Permissions()` and `@Roles()`, each all-of and any-of, over real
 * HTTP, against tokens shaped as each identity provider writes them, read where its preset says
 * (the presets' issuer kept, `jwksUri` pointed at a local TestIssuer). A kind an IdP does not carry
 * there is refused even when the token has it where another IdP would put it. A refusal is a 403
 * with RFC 6750's `insufficient_scope` challenge and Nest's generic body.
 */
import { Controller, Get, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { JwksAuthModule, Public, Roles, Scopes, type GrantKind } from '../../lib';
import { TestIssuer } from '../../lib/testing';
import { bootApp } from '../fixtures/app';
import { GrantsController, StaffController } from '../fixtures/grants.controller';
import { startIdps, type Idp, type IdpSet } from '../fixtures/idp-tokens';

const forRoot = JwksAuthModule.forRoot.bind(JwksAuthModule);
const GENERIC_403 = { statusCode: 403, message: 'Forbidden' };

describe('authorization decorators over HTTP, per identity provider', () => {
  let app: INestApplication;
  let set: IdpSet;
  let idps: readonly Idp[] = [];

  beforeAll(async () => {
    set = await startIdps();
    idps = set.idps;
    app = await bootApp({
      controllers: [GrantsController, StaffController],
      imports: [forRoot({ issuers: set.issuers, strategyName: 'jwks-authz' })],
    });
  });
  afterAll(async () => {
    await app?.close();
    await set?.close();
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
