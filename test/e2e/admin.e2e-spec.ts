import type { CanActivate, ExecutionContext, INestApplication } from '@nestjs/common';
import { Injectable } from '@nestjs/common';
import { jest } from '@jest/globals';
import request from 'supertest';
import { JwksAuthGuard, JwksAuthModule, JwksCacheService } from '../../lib';
import { TestIssuer } from '../../lib/testing';
import { bootApp, issuerOptions, HTTP_PLATFORMS } from '../fixtures/app';

const KEY = 'operator-key-0123456789';

/** The app's own guard: an operator key in a header (a stand-in for whatever the app uses). */
@Injectable()
class OperatorKeyGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const headers = context.switchToHttp().getRequest<{ headers: Record<string, unknown> }>().headers;
    return headers['x-operator-key'] === KEY;
  }
}

describe.each(HTTP_PLATFORMS)('admin controller (%s)', (platform) => {
  let issuer: TestIssuer;
  let other: TestIssuer;
  let app: INestApplication;
  let cache: JwksCacheService;

  beforeEach(async () => {
    issuer = await TestIssuer.start();
    other = await TestIssuer.start({ path: '/other' });
    app = await bootApp(
      {
        imports: [
          JwksAuthModule.forRoot({
            issuers: [
              { issuer: issuer.issuer, jwksUri: issuer.jwksUri },
              { issuer: other.issuer, jwksUri: other.jwksUri },
            ],
            audience: issuer.audience,
            admin: { guard: OperatorKeyGuard },
          }),
        ],
      },
      { platform },
    );
    cache = app.get(JwksCacheService);
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await app.close();
    await issuer.close();
    await other.close();
  });

  const http = () => request(app.getHttpServer());
  const enc = (value: string) => encodeURIComponent(value);
  const me = (token: string) => http().get('/me').set('Authorization', `Bearer ${token}`);

  it('refuses every route without the guard\'s approval, and the service is never called', async () => {
    const spies = (['getStates', 'getState', 'refresh', 'invalidate', 'revokeKey', 'restoreKey'] as const).map((name) => jest.spyOn(JwksCacheService.prototype, name));
    const fetches = issuer.requestCount;
    const wrongKey = { 'x-operator-key': 'nope' };
    await http().get('/jwks-auth/admin').expect(403);
    await http().get(`/jwks-auth/admin/${enc(issuer.issuer)}`).set(wrongKey).expect(403);
    await http().post('/jwks-auth/admin/refresh').send({ force: true }).expect(403);
    await http().post(`/jwks-auth/admin/revoke/${issuer.kid}`).set(wrongKey).expect(403);
    await http().post(`/jwks-auth/admin/restore/${issuer.kid}`).expect(403);
    await http().post('/jwks-auth/admin/invalidate').query({ issuer: issuer.issuer }).set(wrongKey).expect(403);
    for (const spy of spies) expect(spy).not.toHaveBeenCalled();
    expect(issuer.requestCount).toBe(fetches);
    await me(issuer.sign({ sub: 'alice' })).expect(200);
  });

  it('with it: every state, one state, refresh (one fetch), revoke (a token with that kid is 401), restore', async () => {
    const op = { 'x-operator-key': KEY };
    const all = await http().get('/jwks-auth/admin').set(op).expect(200);
    expect(Object.keys(all.body).sort()).toEqual([issuer.issuer, other.issuer].sort());
    expect(all.body[issuer.issuer].kids).toEqual([issuer.kid]);
    expect(JSON.stringify(all.body)).not.toMatch(/"(n|d|e|x5c)":/); // states only, no key material

    const one = await http().get(`/jwks-auth/admin/${enc(other.issuer)}`).set(op).expect(200);
    expect(one.body.kids).toEqual([other.kid]);

    const before = issuer.requestCount;
    const refreshed = await http().post('/jwks-auth/admin/refresh').set(op).send({ issuer: issuer.issuer, force: true }).expect(200);
    expect(issuer.requestCount).toBe(before + 1);
    expect(refreshed.body.kids).toEqual([issuer.kid]);

    const token = issuer.sign({ sub: 'alice' });
    await me(token).expect(200);
    const kid = issuer.kid;
    const revoked = await http().post(`/jwks-auth/admin/revoke/${kid}`).query({ issuer: issuer.issuer }).set(op).expect(200);
    expect(revoked.body.revokedKids).toEqual([kid]);
    await me(token).expect(401);
    await me(other.sign({ sub: 'bob' })).expect(200); // the other issuer is untouched

    await http().post(`/jwks-auth/admin/restore/${kid}`).query({ issuer: issuer.issuer }).set(op).expect(200);
    await me(token).expect(200);
  });

  it('invalidate: the set is not fresh until a new fetch answers, which the next token waits for; other issuers untouched', async () => {
    const op = { 'x-operator-key': KEY };
    const before = issuer.requestCount;
    const otherBefore = other.requestCount;
    const invalidated = await http().post('/jwks-auth/admin/invalidate').query({ issuer: issuer.issuer }).set(op).expect(200);
    expect(invalidated.body.fresh).toBe(false);
    await me(issuer.sign({ sub: 'alice' })).expect(200);
    expect(issuer.requestCount).toBe(before + 1);
    expect(cache.getState(issuer.issuer).fresh).toBe(true);
    expect(cache.getState(other.issuer).fresh).toBe(true);
    expect(other.requestCount).toBe(otherBefore);
    await http().post('/jwks-auth/admin/invalidate').set(op).expect(400); // which issuer?
    await http().post('/jwks-auth/admin/invalidate').query({ issuer: 'https://nobody.example/' }).set(op).expect(400);
  });

  it('400 for an unknown issuer, a bad kid or a bad force; a missing issuer with several is 400 too', async () => {
    const op = { 'x-operator-key': KEY };
    const unknown = await http().get(`/jwks-auth/admin/${enc('https://nobody.example/')}`).set(op).expect(400);
    expect(unknown.body.code).toBe('ERR_JWKS_ARGUMENT');
    await http().post('/jwks-auth/admin/refresh').set(op).send({ issuer: 'https://nobody.example/' }).expect(400);
    await http().post('/jwks-auth/admin/refresh').set(op).send({ issuer: issuer.issuer, force: 'yes' }).expect(400);
    await http().post('/jwks-auth/admin/revoke/k%0Ak').query({ issuer: issuer.issuer }).set(op).expect(400);
    await http().post(`/jwks-auth/admin/revoke/${issuer.kid}`).set(op).expect(400); // which issuer?
    expect(cache.getState(issuer.issuer).revokedKids).toEqual([]);
  });

  it('a deferred refresh answers 429 with Retry-After and fetches nothing', async () => {
    const op = { 'x-operator-key': KEY };
    issuer.queueFaults({ status: 429, headers: { 'retry-after': '120' } });
    await cache.refresh(issuer.issuer, { force: true }); // the IdP says: wait 120 s
    const before = issuer.requestCount;
    const res = await http().post('/jwks-auth/admin/refresh').query({ issuer: issuer.issuer }).set(op).expect(429);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(100);
    expect(res.body.code).toBe('ERR_JWKS_REFRESH_DEFERRED');
    expect(issuer.requestCount).toBe(before);
  });
});

describe('admin controller: path, scopes, forRootAsync and globalGuard', () => {
  let issuer: TestIssuer;
  let app: INestApplication | undefined;
  beforeEach(async () => {
    issuer = await TestIssuer.start();
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    await issuer.close();
  });

  it('forRootAsync takes admin beside useFactory; guard JwksAuthGuard with scopes at a custom path', async () => {
    app = await bootApp({
      imports: [JwksAuthModule.forRootAsync({ admin: { guard: JwksAuthGuard, path: 'ops/jwks', scopes: ['jwks:admin'] }, useFactory: () => issuerOptions(issuer) })],
    });
    const http = () => request(app!.getHttpServer());
    await http().get('/ops/jwks').expect(401);
    const lacking = await http().get('/ops/jwks').set('Authorization', `Bearer ${issuer.sign({ scope: 'read' })}`).expect(403);
    expect(lacking.headers['www-authenticate']).toContain('jwks:admin');
    const ok = await http().get('/ops/jwks').set('Authorization', `Bearer ${issuer.sign({ scope: 'jwks:admin' })}`).expect(200);
    expect(ok.body[issuer.issuer].kids).toEqual([issuer.kid]);
    await http().get('/jwks-auth/admin').expect(404);
  });

  it('without admin there are no admin routes', async () => {
    app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer))] });
    await request(app.getHttpServer()).get('/jwks-auth/admin').expect(404);
  });

  it('with globalGuard the module guard still applies: the user guard alone is not enough', async () => {
    const allow = { canActivate: () => true };
    app = await bootApp({ imports: [JwksAuthModule.forRoot({ ...issuerOptions(issuer), globalGuard: true, admin: { guard: allow } })] });
    await request(app.getHttpServer()).get('/jwks-auth/admin').expect(401);
    await request(app.getHttpServer()).get('/jwks-auth/admin').set('Authorization', `Bearer ${issuer.sign({})}`).expect(200);
  });
});
