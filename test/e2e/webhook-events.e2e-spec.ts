import type { INestApplication } from '@nestjs/common';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { JwksAuthEvents, JwksAuthModule, JwksCacheService, signWebhookBody, type JwksAuthEvent } from '../../lib';
import { FakeClock, TestIssuer } from '../../lib/testing';
import { WEBHOOK_DEFAULTS } from '../../lib/jwks-auth.constants';
import { bootApp, issuerOptions } from '../fixtures/app';

// The webhook's events (what it took, what it refused and why) and its per-sender limit on
// refusals, over real connections from two source addresses (127.0.0.1 and 127.0.0.2).

const SECRET = 'e2e-webhook-events-secret-'.padEnd(48, 'x');
const AUTH0 = 'Bearer auth0-log-stream-token-0123456789';
const PATH = '/jwks-auth/webhook';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
}

describe('rotation webhook: events and the per-sender refusal limit', () => {
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

  /** A POST from `from` (a loopback source address), answered or not. */
  const post = (body: string, headers: Record<string, string>, from = '127.0.0.1') =>
    new Promise<Answer>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: PATH, method: 'POST', localAddress: from, headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      });
      req.on('error', reject);
      req.end(body);
    });
  const signed = (notice: object, secret = SECRET) => {
    const body = JSON.stringify(notice);
    const t = Math.floor(clock.now() / 1000);
    return [body, { 'x-jwks-signature': `t=${t},v1=${signWebhookBody(secret, t, body)}` }] as const;
  };

  it('emits webhook-received for what it acts on, with the issuer and source, never the kid', async () => {
    expect((await post(...signed({ event: 'revoke', kid: issuer.kid }))).status).toBe(202);
    expect((await post(...signed({ event: 'refresh' }))).status).toBe(202);
    expect(events.filter((e) => e.type === 'webhook-received')).toEqual([
      { type: 'webhook-received', source: 'signed-notice', action: 'revoke', issuer: issuer.issuer },
      { type: 'webhook-received', source: 'signed-notice', action: 'refresh', issuer: '' },
    ]);
    // The kid is in the key-revoked event that follows, as for any revocation.
    expect(events.find((e) => e.type === 'key-revoked')).toMatchObject({ kid: issuer.kid, issuer: issuer.issuer });
    expect(JSON.stringify(events.filter((e) => e.type === 'webhook-received'))).not.toContain(issuer.kid);
  });

  it('emits webhook-refused with the status and the reason', async () => {
    const [body] = signed({ event: 'revoke', kid: issuer.kid });
    expect((await post(body, { 'x-jwks-signature': `t=${Math.floor(clock.now() / 1000)},v1=${'0'.repeat(64)}` })).status).toBe(401);
    expect((await post(body, { authorization: 'Bearer wrong-token-0123456789' })).status).toBe(401);
    expect((await post(body, {})).status).toBe(401);
    expect((await post(...signed({ event: 'revoke' }))).status).toBe(400);
    expect((await post(...signed({ event: 'revoke', kid: 'k', issuer: 'https://not-configured.example/' }))).status).toBe(400);
    expect((await post('x'.repeat(WEBHOOK_DEFAULTS.maxBodyBytes + 1), {})).status).toBe(413);
    expect(events.map((e) => (e.type === 'webhook-refused' ? `${e.status} ${e.reason}` : e.type))).toEqual([
      '401 mismatch',
      '401 authorization',
      '401 no-credentials',
      '400 unusable-body',
      '400 unknown-target',
      '413 oversized',
    ]);
    expect(events.every((e) => e.issuer === '')).toBe(true);
  });

  it('answers 429 with Retry-After to a sender refused too often (before reading a body with no credential); its good notices and other senders are heard', async () => {
    const forged = (from: string) => post(JSON.stringify({ event: 'revoke', kid: issuer.kid }), { 'x-jwks-signature': `t=${Math.floor(clock.now() / 1000)},v1=${'1'.repeat(64)}` }, from);
    for (let i = 0; i < WEBHOOK_DEFAULTS.maxRefusalsPerSender; i++) expect((await forged('127.0.0.2')).status).toBe(401);
    const limited = await forged('127.0.0.2');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBe(WEBHOOK_DEFAULTS.refusalWindowMs / 1000);
    // A request with no credential from that address waits: its body is not read.
    expect((await post(JSON.stringify({ event: 'revoke', kid: issuer.kid }), {}, '127.0.0.2')).status).toBe(429);
    expect(events.filter((e) => e.type === 'webhook-refused' && e.reason === 'rate-limited')).toHaveLength(2);
    // A good notice from that address is heard: behind a proxy it may be the real sender's.
    const [goodBody, goodHeaders] = signed({ event: 'revoke', kid: issuer.kid });
    expect((await post(goodBody, goodHeaders, '127.0.0.2')).status).toBe(202);
    expect(app.get(JwksCacheService).getState().revokedKids).toEqual([issuer.kid]);
    // Another sender is not affected.
    expect((await post(...signed({ event: 'restore', kid: issuer.kid }), '127.0.0.1')).status).toBe(202);
    expect(app.get(JwksCacheService).getState().revokedKids).toEqual([]);
    // After the window, the sender is heard again.
    clock.advance(WEBHOOK_DEFAULTS.refusalWindowMs);
    expect((await post(...signed({ event: 'revoke', kid: issuer.kid }), '127.0.0.2')).status).toBe(202);
  });
});
