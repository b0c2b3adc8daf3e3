import type { INestApplication } from '@nestjs/common';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { JwksAuthEvents, JwksAuthModule, JwksCacheService, signWebhookBody, type JwksAuthEvent } from '../../lib';
import { FakeClock, TestIssuer } from '../../lib/testing';
import { WEBHOOK_DEFAULTS } from '../../lib/jwks-auth.constants';
import { bootApp, HTTP_PLATFORMS, issuerOptions } from '../fixtures/app';

// Behind a reverse proxy (a load balancer, an ingress) every sender has the proxy's address. An
// unauthenticated sender refused 20 times a minute must not deny the real sender's signed
// revocation (or Auth0's delivery) for as long as it keeps that low rate up: an authenticated
// notice is acted on whatever its address's refusal count; only unauthenticated requests wait.

const SECRET = 'attack12-webhook-lockout-secret-'.padEnd(48, 'x');
const AUTH0 = 'Bearer auth0-log-stream-token-0123456789';
const PATH = '/jwks-auth/webhook';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
}

describe.each(HTTP_PLATFORMS)('rotation webhook behind a shared address (%s)', (platform) => {
  let issuer: TestIssuer;
  let app: INestApplication;
  let clock: FakeClock;
  let port: number;
  let events: JwksAuthEvent[];

  beforeEach(async () => {
    issuer = await TestIssuer.start();
    clock = new FakeClock(Date.now());
    app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { webhook: { secret: SECRET, auth0: { authorization: AUTH0 } } }))] }, { clock, platform });
    events = [];
    app.get(JwksAuthEvents).on('event', (e) => {
      if (e.type.startsWith('webhook-')) events.push(e);
    });
    const server = app.getHttpServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterEach(async () => {
    await app.close();
    await issuer.close();
  });

  // Every request from 127.0.0.1, as through a proxy.
  const post = (body: string, headers: Record<string, string>) =>
    new Promise<Answer>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: PATH, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      });
      req.on('error', reject);
      req.end(body);
    });
  const signed = (notice: object) => {
    const body = JSON.stringify(notice);
    const t = Math.floor(clock.now() / 1000);
    return [body, { 'x-jwks-signature': `t=${t},v1=${signWebhookBody(SECRET, t, body)}` }] as const;
  };
  const forged = () => post('{}', { 'x-jwks-signature': `t=${Math.floor(clock.now() / 1000)},v1=${'1'.repeat(64)}` });
  const noCredentials = () => post('{}', {});
  const auth0Revoke = (kid: string) =>
    post(JSON.stringify([{ log_id: '1', data: { type: 'sapi', details: { request: { method: 'PUT', path: `/api/v2/keys/signing/${kid}/revoke` }, response: { statusCode: 200 } } } }]), { authorization: AUTH0 });

  it("a signed revocation is acted on while an attacker keeps the shared address over the limit, window after window", async () => {
    for (let window = 0; window < 3; window++) {
      // 20 forged requests at the start of each window: a few a minute is all it takes.
      for (let i = 0; i < WEBHOOK_DEFAULTS.maxRefusalsPerSender; i++) expect((await forged()).status).toBe(401);
      expect((await forged()).status).toBe(429);
      expect((await noCredentials()).status).toBe(429);
      // The real sender's notice, mid-window.
      clock.advance(WEBHOOK_DEFAULTS.refusalWindowMs / 2);
      expect((await post(...signed({ event: window % 2 === 0 ? 'revoke' : 'restore', kid: issuer.kid }))).status).toBe(202);
      expect(app.get(JwksCacheService).getState().revokedKids).toEqual(window % 2 === 0 ? [issuer.kid] : []);
      clock.advance(WEBHOOK_DEFAULTS.refusalWindowMs / 2);
    }
    // Unauthenticated requests are still answered 429 (not 401) while over the limit.
    expect(events.filter((e) => e.type === 'webhook-refused' && e.reason === 'rate-limited').length).toBe(6);
    expect(events.filter((e) => e.type === 'webhook-received')).toHaveLength(3);
  });

  it("an Auth0 delivery with the right Authorization is acted on while the shared address is over the limit", async () => {
    for (let i = 0; i < WEBHOOK_DEFAULTS.maxRefusalsPerSender; i++) expect((await post('{}', { authorization: 'Bearer wrong-0123456789' })).status).toBe(401);
    expect((await post('{}', { authorization: 'Bearer wrong-0123456789' })).status).toBe(429);
    expect((await auth0Revoke(issuer.kid)).status).toBe(202);
    expect(app.get(JwksCacheService).getState().revokedKids).toEqual([issuer.kid]);
  });

  it('a forged or replayed signature is still 429 while over the limit, and a replay of the accepted notice is not acted on twice', async () => {
    for (let i = 0; i < WEBHOOK_DEFAULTS.maxRefusalsPerSender; i++) expect((await forged()).status).toBe(401);
    const notice = signed({ event: 'revoke', kid: issuer.kid });
    expect((await post(...notice)).status).toBe(202);
    expect((await post(...notice)).status).toBe(429);
    expect((await forged()).status).toBe(429);
    expect((await post('x'.repeat(WEBHOOK_DEFAULTS.maxBodyBytes + 1), notice[1])).status).toBe(429);
    expect(events.filter((e) => e.type === 'webhook-received')).toHaveLength(1);
  });
});
