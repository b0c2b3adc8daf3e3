import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { JwksAuthModule, JwksCacheService, JwtVerifier } from '../../lib';
import { TestIssuer } from '../../lib/testing';
import { bootApp, issuerOptions, HTTP_PLATFORMS } from '../fixtures/app';

describe.each(HTTP_PLATFORMS)('revokeKey() over HTTP: the emergency tool (%s)', (platform) => {
  let issuer: TestIssuer;
  let app: INestApplication;
  let cache: JwksCacheService;

  beforeEach(async () => {
    issuer = await TestIssuer.start();
    app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { verifiedTokenCache: true }))] }, { platform });
    cache = app.get(JwksCacheService);
  });
  afterEach(async () => {
    await app.close();
    await issuer.close();
  });
  const get = (t: string) => request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${t}`);

  it('refuses a cached token at once, with the IdP down, and after a refetch that still lists the key', async () => {
    const compromised = issuer.kid;
    const token = issuer.sign({ sub: 'alice' }, { expiresInSec: 3600 });
    await get(token).expect(200);
    await get(token).expect(200);
    expect(app.get(JwtVerifier).verifiedTokenCacheStats().hits).toBe(1);
    issuer.setFault({ status: 503 });
    const requestsBefore = issuer.requestCount;
    cache.revokeKey(compromised);
    await get(token).expect(401);
    await get(issuer.sign({ sub: 'bob' })).expect(401); // a fresh token with that key too
    expect(issuer.requestCount).toBe(requestsBefore); // no fetch needed to refuse it
    expect(app.get(JwtVerifier).refusalCounts()).toMatchObject({ ERR_JWKS_KEY_REVOKED: 2 });
    issuer.clearFault();
    await cache.refresh({ force: true }); // the IdP still publishes the key
    expect(cache.getState().kids).not.toContain(compromised);
    await get(token).expect(401);
    cache.restoreKey(compromised);
    await get(token).expect(200);
  });

  it('leaves the other keys of the set alone', async () => {
    const compromised = issuer.kid;
    const next = issuer.rotate();
    await cache.refresh();
    cache.revokeKey(compromised);
    await get(issuer.sign({}, { kid: next })).expect(200);
    await get(issuer.sign({}, { kid: compromised })).expect(401);
    expect(cache.getState()).toMatchObject({ revokedKids: [compromised], kids: [next] });
  });
});
