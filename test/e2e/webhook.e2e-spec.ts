import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { JwksAuthModule, JwksCacheService, signWebhookBody } from '../../lib';
import { TestIssuer } from '../../lib/testing';
import { WEBHOOK_DEFAULTS } from '../../lib/jwks-auth.constants';
import { kidFingerprint } from '../../lib/events/kid.fingerprint';
import { bootApp, issuerOptions, HTTP_PLATFORMS } from '../fixtures/app';
import { ProtectedController } from '../fixtures/protected.controller';

const SECRET = 'e2e-webhook-secret-'.padEnd(48, 'x');
const AUTH0 = 'Bearer auth0-log-stream-token-0123456789';
const PATH = '/jwks-auth/webhook';

/** What a sender does: sign `<t>.<raw body>` and send those exact bytes. */
function signed(body: string, t = Math.floor(Date.now() / 1000), secret = SECRET): { body: string; signature: string } {
  return { body, signature: `t=${t},v1=${signWebhookBody(secret, t, body)}` };
}

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** An Auth0 Log Streams entry for a Management API call, as streamed (`{ log_id, data }`). */
const sapi = (id: string, method: string, path: string) => ({
  log_id: id,
  data: { date: '2026-11-23T06:00:00.000Z', type: 'sapi', description: 'Management API call', client_id: 'c', details: { request: { method, path }, response: { statusCode: 200 } } },
});

describe.each(HTTP_PLATFORMS)('rotation webhook (%s)', (platform) => {
  let issuer: TestIssuer;
  let app: INestApplication;

  beforeEach(async () => {
    issuer = await TestIssuer.start();
    app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { globalGuard: true, webhook: { secret: SECRET, auth0: { authorization: AUTH0 } } }))] }, { platform });
  });
  afterEach(async () => {
    await app.close();
    await issuer.close();
  });
  const me = (t: string) => request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${t}`);
  const post = (n: { body: string; signature: string }) =>
    request(app.getHttpServer()).post(PATH).set('content-type', 'application/json').set('x-jwks-signature', n.signature).send(n.body);
  const auth0 = (body: unknown, authorization = AUTH0) =>
    request(app.getHttpServer()).post(PATH).set('content-type', 'application/json').set('authorization', authorization).send(JSON.stringify(body));

  it('a signed revoke makes the next token with that kid 401 (through a global guard), a signed restore undoes it', async () => {
    const kid = issuer.kid;
    await me(issuer.sign({ sub: 'alice' })).expect(200);
    await post(signed(JSON.stringify({ event: 'revoke', kid }))).expect(202);
    await me(issuer.sign({ sub: 'alice' })).expect(401);
    expect(app.get(JwksCacheService).getState().revokedKids).toEqual([kid]);
    await post(signed(JSON.stringify({ event: 'restore', kid }))).expect(202);
    await me(issuer.sign({ sub: 'alice' })).expect(200);
  });

  it('verifies the raw bytes: whitespace and key order the sender chose are what is signed', async () => {
    const kid = issuer.kid;
    await post(signed(`{ "kid" : "${kid}",\n  "event": "revoke" }`)).expect(202);
    await me(issuer.sign({ sub: 'alice' })).expect(401);
  });

  it('a forged, wrong-secret, stale or replayed notice is 401 and does nothing', async () => {
    const kid = issuer.kid;
    const body = JSON.stringify({ event: 'revoke', kid });
    await post({ body, signature: `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}` }).expect(401);
    await post(signed(body, undefined, 'another-secret-'.padEnd(48, 'y'))).expect(401);
    await post(signed(body, Math.floor(Date.now() / 1000) - WEBHOOK_DEFAULTS.toleranceSec - 5)).expect(401);
    await request(app.getHttpServer()).post(PATH).set('content-type', 'application/json').send(body).expect(401);
    await me(issuer.sign({ sub: 'alice' })).expect(200);

    // A revoke, then a restore; the revoke replayed inside the window must not revoke again.
    const revoke = signed(body);
    await post(revoke).expect(202);
    await post(signed(JSON.stringify({ event: 'restore', kid }))).expect(202);
    await post(revoke).expect(401);
    await me(issuer.sign({ sub: 'alice' })).expect(200);
  });

  it('answers 400 for a well-signed body it cannot act on, and does nothing', async () => {
    await post(signed(JSON.stringify({ event: 'revoke' }))).expect(400);
    await post(signed(JSON.stringify({ event: 'revoke', kid: issuer.kid, issuer: 'https://not-configured.example/' }))).expect(400);
    await post(signed('not json')).expect(400);
    await me(issuer.sign({ sub: 'alice' })).expect(200);
  });

  it('refuses an oversized body with 413 and does nothing', async () => {
    const body = JSON.stringify({ event: 'revoke', kid: issuer.kid, pad: 'x'.repeat(WEBHOOK_DEFAULTS.maxBodyBytes) });
    const res = await post(signed(body)).catch((err: { response?: { status: number } }) => err.response);
    expect(res?.status).toBe(413);
    await me(issuer.sign({ sub: 'alice' })).expect(200);
  });

  it('a signed refresh fetches the key set once', async () => {
    const before = issuer.requestCount;
    await post(signed(JSON.stringify({ event: 'refresh' }))).expect(202);
    await until(() => issuer.requestCount === before + 1);
  });

  it('an Auth0 Log Streams batch with a rotate entry triggers one refresh; other entries are ignored', async () => {
    const before = issuer.requestCount;
    const newKid = issuer.rotate();
    const batch = [
      { log_id: '1', data: { type: 's', description: 'Success Login', details: {} } },
      sapi('2', 'post', '/api/v2/keys/signing/rotate'),
      sapi('3', 'patch', '/api/v2/clients/abc'),
      sapi('4', 'post', '/api/v2/keys/signing/rotate'),
    ];
    await auth0(batch).expect(202);
    await until(() => app.get(JwksCacheService).getState().kids.includes(newKid));
    expect(issuer.requestCount).toBe(before + 1);
  });

  it('an Auth0 revoke entry revokes the kid; a wrong Authorization is 401 and does nothing', async () => {
    const kid = issuer.kid;
    const before = issuer.requestCount;
    await auth0([sapi('9', 'put', `/api/v2/keys/signing/${kid}/revoke`)], 'Bearer wrong-token-0123456789').expect(401);
    await auth0([sapi('9', 'post', '/api/v2/keys/signing/rotate')], 'Bearer wrong').expect(401);
    await me(issuer.sign({ sub: 'alice' })).expect(200);
    expect(issuer.requestCount).toBe(before);
    await auth0([sapi('9', 'put', `/api/v2/keys/signing/${encodeURIComponent(kid)}/revoke`)]).expect(202);
    await me(issuer.sign({ sub: 'alice' })).expect(401);
  });

  it('leaves every other route to the app, and refuses other methods on its path', async () => {
    await request(app.getHttpServer()).get('/public').expect(200);
    await request(app.getHttpServer()).get(PATH).expect(405);
  });
});

describe('rotation webhook off (the default)', () => {
  it('does not answer: the path is the app\'s (404)', async () => {
    const issuer = await TestIssuer.start();
    const app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer))] });
    try {
      const n = signed(JSON.stringify({ event: 'revoke', kid: issuer.kid }));
      await request(app.getHttpServer()).post(PATH).set('x-jwks-signature', n.signature).send(n.body).expect(404);
      await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${issuer.sign({ sub: 'a' })}`).expect(200);
    } finally {
      await app.close();
      await issuer.close();
    }
  });
});

describe('rotation webhook with forRootAsync, and what it logs', () => {
  it('is served when the async options set it, and never logs the secret, a signature, the Authorization or a raw kid', async () => {
    const issuer = await TestIssuer.start();
    const lines: string[] = [];
    const capture = (...args: unknown[]) => void lines.push(args.map(String).join(' '));
    const moduleRef = await Test.createTestingModule({
      controllers: [ProtectedController],
      imports: [JwksAuthModule.forRootAsync({ useFactory: () => issuerOptions(issuer, { webhook: { secret: SECRET, auth0: { authorization: AUTH0 } } }) })],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: { log: capture, warn: capture, error: capture, debug: capture, verbose: capture, fatal: capture } });
    await app.init();
    try {
      const kid = issuer.kid;
      const revoke = signed(JSON.stringify({ event: 'revoke', kid }));
      const send = (n: { body: string; signature: string }) => request(app.getHttpServer()).post(PATH).set('x-jwks-signature', n.signature).send(n.body);
      await send(revoke).expect(202);
      await send(revoke).expect(401);
      await send(signed(JSON.stringify({ event: 'refresh' }), undefined, 'z'.repeat(40))).expect(401);
      await request(app.getHttpServer()).post(PATH).set('authorization', AUTH0).send(JSON.stringify([sapi('1', 'PUT', `/api/v2/keys/signing/${kid}/revoke`)])).expect(202);
      await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${issuer.sign({ sub: 'a' })}`).expect(401);
      const logged = lines.join('\n');
      expect(logged).toContain('webhook');
      expect(logged).toContain(kidFingerprint(kid));
      for (const secret of [SECRET, kid, revoke.signature, revoke.signature.split('v1=')[1], AUTH0, AUTH0.split(' ')[1]]) expect(logged).not.toContain(secret);
    } finally {
      await app.close();
      await issuer.close();
    }
  });
});
