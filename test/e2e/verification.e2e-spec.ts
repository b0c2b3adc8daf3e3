import { createPublicKey, createHmac, randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { JwksAuthModule, JwksCacheService } from '../../lib';
import { TestIssuer } from '../../lib/testing';
import { bootApp, issuerOptions, HTTP_PLATFORMS } from '../fixtures/app';

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

describe.each(HTTP_PLATFORMS)('JwksAuthGuard over HTTP against a real JWKS endpoint (%s)', (platform) => {
  let issuer: TestIssuer;
  let app: INestApplication;
  let http: ReturnType<typeof request>;

  beforeAll(async () => {
    issuer = await TestIssuer.start();
    app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer))] }, { platform });
    http = request(app.getHttpServer());
  });
  afterAll(async () => {
    await app.close();
    await issuer.close();
  });
  beforeEach(() => issuer.clearFault());

  /** RFC 6750 §3.1: the bare challenge when no bearer token was sent, `invalid_token` when one was refused. */
  const expect401 = async (authorization: string | undefined, challenge = 'Bearer error="invalid_token"') => {
    const req = http.get('/me');
    const res = await (authorization === undefined ? req : req.set('Authorization', authorization));
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe(challenge);
    expect(res.body).toEqual({ message: 'Unauthorized', statusCode: 401 });
    return res;
  };

  it('fetched the key set during bootstrap, before the first request', () => {
    expect(issuer.requestCount).toBe(1);
    expect(app.get(JwksCacheService).getState()).toMatchObject({ fresh: true, kids: [issuer.kid] });
  });

  it('accepts a valid token and hands the claims to @CurrentUser', async () => {
    const token = issuer.sign({ sub: 'alice', scope: 'read' });
    const res = await http.get('/me').set('Authorization', `Bearer ${token}`).expect(200);
    expect(res.body).toMatchObject({ sub: 'alice', scope: 'read', iss: issuer.issuer });
    await http.get('/me/sub').set('Authorization', `Bearer ${token}`).expect(200, { sub: 'alice' });
  });

  it('lets @Public() routes through without a token', async () => {
    await http.get('/public').expect(200, { ok: true });
  });

  it('refuses a missing, non-bearer or garbage token with a generic 401 and RFC 6750 challenge', async () => {
    await expect401(undefined, 'Bearer');
    await expect401('Basic dXNlcjpwYXNz', 'Bearer');
    await expect401('Bearer');
    await expect401('Bearer not-a-jwt');
    await expect401('Bearer a.b.c');
    await expect401(`Bearer ${'x'.repeat(9000)}`);
  });

  it('refuses expired, not-yet-valid, wrong-issuer and wrong-audience tokens', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expect401(`Bearer ${issuer.sign({ exp: now - 10 })}`);
    await expect401(`Bearer ${issuer.sign({ exp: undefined })}`);
    await expect401(`Bearer ${issuer.sign({ nbf: now + 600 })}`);
    await expect401(`Bearer ${issuer.sign({ iss: 'https://evil.example/' })}`);
    await expect401(`Bearer ${issuer.sign({ iss: issuer.issuer.replace(/\/$/, '') })}`);
    await expect401(`Bearer ${issuer.sign({ aud: 'https://another-api' })}`);
    await expect401(`Bearer ${issuer.sign({ aud: undefined })}`);
  });

  it('refuses alg none in any spelling, and HS256 signed with the public key', async () => {
    const payload = { iss: issuer.issuer, aud: issuer.audience, sub: 'mallory', exp: Math.floor(Date.now() / 1000) + 300 };
    for (const alg of ['none', 'None', 'NONE']) {
      await expect401(`Bearer ${b64({ alg, kid: issuer.kid })}.${b64(payload)}.`);
      await expect401(`Bearer ${b64({ alg, kid: issuer.kid })}.${b64(payload)}.AAAA`);
    }
    const pem = createPublicKey({ key: issuer.publicJwk(), format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    for (const secret of [pem, JSON.stringify(issuer.publicJwk())]) {
      const input = `${b64({ alg: 'HS256', kid: issuer.kid })}.${b64(payload)}`;
      const sig = createHmac('sha256', secret).update(input).digest('base64url');
      await expect401(`Bearer ${input}.${sig}`);
    }
  });

  it('refuses a token whose signature does not verify', async () => {
    const token = issuer.sign({ sub: 'alice' });
    const [h, p] = token.split('.');
    const forged = `${h}.${b64({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'admin' })}.${token.split('.')[2]}`;
    await expect401(`Bearer ${forged}`);
  });

  it('accepts tokens signed with a newly published key after a rotation', async () => {
    const before = issuer.requestCount;
    const newKid = issuer.rotate();
    const token = issuer.sign({ sub: 'bob' });
    expect(JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString()).kid).toBe(newKid);
    await http.get('/me').set('Authorization', `Bearer ${token}`).expect(200);
    expect(issuer.requestCount).toBe(before + 1);
  });

  it('lets 1,000 tokens with random unknown kids cause at most one fetch per cooldown while valid tokens keep passing', async () => {
    const cache = app.get(JwksCacheService);
    // Start a fresh cooldown window with one unknown-kid refetch of our own.
    await cache.refresh();
    await http.get('/me').set('Authorization', `Bearer ${issuer.sign({}, { header: { kid: `warm-${randomUUID()}` } })}`).expect(401);
    const before = issuer.requestCount;
    const valid = issuer.sign({ sub: 'alice' });
    const flood = Array.from({ length: 1000 }, () => issuer.sign({}, { header: { kid: randomUUID() } }));
    for (let i = 0; i < flood.length; i += 100) {
      const batch = flood.slice(i, i + 100).map((t) => http.get('/me').set('Authorization', `Bearer ${t}`).expect(401));
      batch.push(http.get('/me').set('Authorization', `Bearer ${valid}`).expect(200));
      await Promise.all(batch);
    }
    expect(issuer.requestCount - before).toBeLessThanOrEqual(1);
    expect(cache.getState().coolingDown).toBe(true);
  });

  it('stops accepting a key removed from the set once the set is refreshed', async () => {
    const oldKid = issuer.kid;
    const oldToken = issuer.sign({ sub: 'carol' });
    await http.get('/me').set('Authorization', `Bearer ${oldToken}`).expect(200);
    issuer.rotate({ removeOld: true });
    await app.get(JwksCacheService).refresh();
    expect(app.get(JwksCacheService).getState().kids).not.toContain(oldKid);
    await expect401(`Bearer ${oldToken}`);
    await http.get('/me').set('Authorization', `Bearer ${issuer.sign({ sub: 'carol' })}`).expect(200);
  });
});
