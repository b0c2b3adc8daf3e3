import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { JwksAuthModule, JwksCacheService, JwtVerifier } from '../../lib';
import { FakeClock, TestIssuer, waitFor } from '../../lib/testing';
import { bootApp, issuerOptions } from '../fixtures/app';
import { b64 } from '../fixtures/craft';

/** The Ed25519 identity point, y = 1 little-endian: as a public key it verifies (R = identity, S = 0) on any message. */
const IDENTITY = Buffer.concat([Buffer.from([1]), Buffer.alloc(31)]);

describe('hardening over HTTP', () => {
  const apps: INestApplication[] = [];
  const issuers: TestIssuer[] = [];
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
    for (const issuer of issuers.splice(0)) await issuer.close();
  });
  async function start(issuerOpts: Parameters<typeof TestIssuer.start>[0], fault?: Parameters<TestIssuer['setFault']>[0]) {
    const issuer = await TestIssuer.start(issuerOpts);
    issuers.push(issuer);
    if (fault) issuer.setFault(fault);
    return issuer;
  }
  async function boot(issuer: TestIssuer, options: Parameters<typeof issuerOptions>[1], clock = new FakeClock()) {
    const app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer, options))] }, { clock });
    apps.push(app);
    return { app, clock, get: (token: string) => request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${token}`) };
  }

  it('an IdP set holding the Ed25519 identity key loads without it: a token forged for it gets 401', async () => {
    const issuer = await start({ alg: 'EdDSA' });
    issuer.setFault({ body: { keys: [issuer.publicJwk(), { kty: 'OKP', crv: 'Ed25519', x: IDENTITY.toString('base64url'), kid: 'placeholder' }] } });
    const { app, clock, get } = await boot(issuer, { algorithms: ['EdDSA'] });
    const now = Math.floor(clock.now() / 1000);
    const claims = { iss: issuer.issuer, aud: issuer.audience, sub: 'admin', exp: now + 300 };
    const forged = `${b64({ alg: 'EdDSA', kid: 'placeholder' })}.${b64(claims)}.${Buffer.concat([IDENTITY, Buffer.alloc(32)]).toString('base64url')}`;
    await get(forged).expect(401);
    await get(issuer.sign({ sub: 'alice' })).expect(200);
    expect(app.get(JwksCacheService).getState().rejectedKeyCount).toBe(1);
  });

  it('a token that expires while its new key is being fetched gets 401; one still valid gets 200', async () => {
    const issuer = await start({});
    // The fake clock says the fetch took 3 s: let requests wait that long (the default maxWaitMs is 2 s).
    const { clock, get } = await boot(issuer, { cache: { maxWaitMs: 10_000 } });
    for (const [lifetimeSec, status] of [[2, 401], [10, 200]] as const) {
      await clock.advance(31_000); // past the unknown-kid cooldown of the previous round
      issuer.rotate(); // tokens are now signed with a kid the app has not fetched
      issuer.queueFaults({ delayMs: 300 }); // the refetch answers after 300 ms (real time)
      const token = issuer.sign({ exp: Math.floor(clock.now() / 1000) + lifetimeSec });
      const fetchesBefore = issuer.requestCount;
      const pending = get(token).then((res) => res.status);
      await waitFor(() => issuer.requestCount > fetchesBefore);
      await clock.advance(3_000); // the fetch "took" 3 s: the 2 s token expired meanwhile
      expect(await pending).toBe(status);
    }
  });

  it('heap-heavy claims are verified but not cached; the cache stays within its byte budget', async () => {
    const issuer = await start({});
    const { app, get } = await boot(issuer, { verifiedTokenCache: true });
    const pad = Array(1_500).fill({});
    for (let i = 0; i < 50; i++) {
      const token = issuer.sign({ jti: `heavy-${i}`, pad });
      expect(token.length).toBeLessThanOrEqual(8 * 1024);
      await get(token).expect(200);
    }
    for (let i = 0; i < 5; i++) await get(issuer.sign({ jti: `light-${i}` })).expect(200);
    const stats = app.get(JwtVerifier).verifiedTokenCacheStats();
    expect(stats.size).toBe(5);
    expect(stats.bytes).toBeGreaterThan(0);
    expect(stats.bytes).toBeLessThan(5 * 16 * 1024);
  });
});
