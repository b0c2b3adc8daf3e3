import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { JwksAuthModule, JwksCacheService, JwtVerifier } from '../../lib';
import { FakeClock, TestIssuer } from '../../lib/testing';
import { bootApp, issuerOptions } from '../fixtures/app';

describe('verifiedTokenCache', () => {
  let issuer: TestIssuer;
  let app: INestApplication;
  let verifier: JwtVerifier;
  const clock = new FakeClock();

  beforeAll(async () => {
    issuer = await TestIssuer.start();
    app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { verifiedTokenCache: { maxEntries: 3, ttlMs: 60_000 } }))] }, { clock });
    verifier = app.get(JwtVerifier);
  });
  afterAll(async () => {
    await app.close();
    await issuer.close();
  });
  const get = (t: string) => request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${t}`);

  it('serves a repeated token from the cache', async () => {
    const token = issuer.sign({ sub: 'repeat' });
    const before = verifier.verifiedTokenCacheStats();
    for (let i = 0; i < 5; i++) expect((await get(token).expect(200)).body.sub).toBe('repeat');
    const after = verifier.verifiedTokenCacheStats();
    expect(after.hits - before.hits).toBe(4);
    expect(after.misses - before.misses).toBe(1);
  });

  it('never serves a different token, even one sharing the signature', async () => {
    const token = issuer.sign({ sub: 'alice' });
    await get(token).expect(200);
    const [, , sig] = token.split('.');
    const forged = `${issuer.sign({ sub: 'admin' }).split('.').slice(0, 2).join('.')}.${sig}`;
    await get(forged).expect(401);
  });

  it('drops an entry at the token exp and after ttlMs', async () => {
    const short = issuer.sign({ exp: Math.floor(clock.now() / 1000) + 10 });
    const long = issuer.sign({}, { expiresInSec: 3600 });
    await get(short).expect(200);
    await get(long).expect(200);
    await clock.advance(10_000);
    await get(short).expect(401);
    const misses = verifier.verifiedTokenCacheStats().misses;
    await clock.advance(50_000);
    await get(long).expect(200); // re-verified after ttl, not served from cache
    expect(verifier.verifiedTokenCacheStats().misses).toBe(misses + 1);
  });

  it('drops entries whose key was removed from the set, at once', async () => {
    const token = issuer.sign({}, { expiresInSec: 3600 });
    await get(token).expect(200);
    issuer.rotate({ removeOld: true });
    await app.get(JwksCacheService).refresh();
    await get(token).expect(401);
  });

  it('stays within maxEntries and freezes cached claims', async () => {
    for (let i = 0; i < 10; i++) await get(issuer.sign({ n: i, nested: { a: 1 } })).expect(200);
    expect(verifier.verifiedTokenCacheStats().size).toBeLessThanOrEqual(3);
    const claims = await verifier.verify(issuer.sign({ nested: { a: 1 } }));
    expect(Object.isFrozen(claims)).toBe(true);
    expect(Object.isFrozen(claims.nested)).toBe(true);
  });
});
