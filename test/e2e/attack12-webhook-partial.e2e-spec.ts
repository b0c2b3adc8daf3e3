import type { INestApplication } from '@nestjs/common';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { JwksAuthEvents, JwksAuthModule, JwksCacheService, signWebhookBody, type JwksAuthEvent } from '../../lib';
import { FakeClock, TestIssuer } from '../../lib/testing';
import { bootApp, issuerOptions } from '../fixtures/app';

// A webhook request the module cannot fully act on (a kid it cannot hold) is refused whole: no
// `webhook-received` event for an action that was not done, and no half-applied Auth0 batch
// answered 400 (which the stream would retry, and retry, on the same entry).

const SECRET = 'attack12-webhook-partial-secret-'.padEnd(48, 'x');
const AUTH0 = 'Bearer auth0-log-stream-token-0123456789';
const PATH = '/jwks-auth/webhook';

describe('rotation webhook: an action it cannot carry out', () => {
  let issuer: TestIssuer;
  let app: INestApplication;
  let clock: FakeClock;
  let port: number;
  let events: JwksAuthEvent[];

  beforeEach(async () => {
    issuer = await TestIssuer.start();
    clock = new FakeClock(Date.now());
    app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { webhook: { secret: SECRET, auth0: { authorization: AUTH0 } } }))] }, { clock });
    events = [];
    app.get(JwksAuthEvents).on('event', (e) => {
      if (e.type.startsWith('webhook-') || e.type === 'key-revoked') events.push(e);
    });
    const server = app.getHttpServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterEach(async () => {
    await app.close();
    await issuer.close();
  });

  const post = (body: string, headers: Record<string, string>) =>
    new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: PATH, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(body);
    });
  const sapiRevoke = (kid: string) => ({ log_id: kid, data: { type: 'sapi', details: { request: { method: 'PUT', path: `/api/v2/keys/signing/${encodeURIComponent(kid)}/revoke` }, response: { statusCode: 200 } } } });

  it('a signed revoke of a kid it cannot hold is 400 with no webhook-received event', async () => {
    const body = JSON.stringify({ event: 'revoke', kid: 'not a key id' });
    const t = Math.floor(clock.now() / 1000);
    expect(await post(body, { 'x-jwks-signature': `t=${t},v1=${signWebhookBody(SECRET, t, body)}` })).toBe(400);
    expect(events.map((e) => e.type)).toEqual(['webhook-refused']);
    expect(events[0]).toMatchObject({ status: 400, reason: 'unknown-target' });
  });

  it('an Auth0 batch with one unusable kid changes nothing and is refused whole', async () => {
    expect(await post(JSON.stringify([sapiRevoke(issuer.kid), sapiRevoke('not a key id')]), { authorization: AUTH0 })).toBe(400);
    expect(app.get(JwksCacheService).getState().revokedKids).toEqual([]);
    expect(events.map((e) => e.type)).toEqual(['webhook-refused']);
  });
});
