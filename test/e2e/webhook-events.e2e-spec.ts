import { JwksCacheService } from '../../lib';
import { WEBHOOK_DEFAULTS } from '../../lib/jwks-auth.constants';
import { request as httpRequest } from 'node:http';
import { WEBHOOK_PATH, WebhookApp } from '../fixtures/webhook-app';

// The webhook's events (what it took, what it refused and why) and its per-sender limit on
// refusals, over real connections from two source addresses (127.0.0.1 and 127.0.0.2).

describe('rotation webhook: events and the per-sender refusal limit', () => {
  let w: WebhookApp;

  beforeEach(async () => {
    w = await WebhookApp.start();
  });
  afterEach(async () => {
    await w.close();
  });

  const post = (body: string, headers: Record<string, string>, from?: string) => w.post(body, headers, from);
  const signed = (notice: object, secret?: string) => w.signed(notice, secret);

  it('emits webhook-received for what it acts on, with the issuer and source, never the kid', async () => {
    expect((await post(...signed({ event: 'revoke', kid: w.issuer.kid }))).status).toBe(202);
    expect((await post(...signed({ event: 'refresh' }))).status).toBe(202);
    expect(w.events.filter((e) => e.type === 'webhook-received')).toEqual([
      { type: 'webhook-received', source: 'signed-notice', action: 'revoke', issuer: w.issuer.issuer },
      { type: 'webhook-received', source: 'signed-notice', action: 'refresh', issuer: '' },
    ]);
    // The kid is in the key-revoked event that follows, as for any revocation.
    expect(w.events.find((e) => e.type === 'key-revoked')).toMatchObject({ kid: w.issuer.kid, issuer: w.issuer.issuer });
    expect(JSON.stringify(w.events.filter((e) => e.type === 'webhook-received'))).not.toContain(w.issuer.kid);
  });

  it('emits webhook-refused with the status and the reason', async () => {
    const [body] = signed({ event: 'revoke', kid: w.issuer.kid });
    expect((await post(body, { 'x-jwks-signature': `t=${Math.floor(w.clock.now() / 1000)},v1=${'0'.repeat(64)}` })).status).toBe(401);
    expect((await post(body, { authorization: 'Bearer wrong-token-0123456789' })).status).toBe(401);
    expect((await post(body, {})).status).toBe(401);
    expect((await post(...signed({ event: 'revoke' }))).status).toBe(400);
    expect((await post(...signed({ event: 'revoke', kid: 'k', issuer: 'https://not-configured.example/' }))).status).toBe(400);
    expect((await post('x'.repeat(WEBHOOK_DEFAULTS.maxBodyBytes + 1), {})).status).toBe(413);
    expect(w.events.map((e) => (e.type === 'webhook-refused' ? `${e.status} ${e.reason}` : e.type))).toEqual([
      '401 mismatch',
      '401 authorization',
      '401 no-credentials',
      '400 unusable-body',
      '400 unknown-target',
      '413 oversized',
    ]);
    expect(w.events.every((e) => e.issuer === '')).toBe(true);
  });

  it('answers 429 with Retry-After to a sender refused too often (before reading a body with no credential); its good notices and other senders are heard', async () => {
    const forged = (from: string) => post(JSON.stringify({ event: 'revoke', kid: w.issuer.kid }), { 'x-jwks-signature': `t=${Math.floor(w.clock.now() / 1000)},v1=${'1'.repeat(64)}` }, from);
    for (let i = 0; i < WEBHOOK_DEFAULTS.maxRefusalsPerSender; i++) expect((await forged('127.0.0.2')).status).toBe(401);
    const limited = await forged('127.0.0.2');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBe(WEBHOOK_DEFAULTS.refusalWindowMs / 1000);
    // A request with no credential from that address waits: its body is not read.
    expect((await post(JSON.stringify({ event: 'revoke', kid: w.issuer.kid }), {}, '127.0.0.2')).status).toBe(429);
    expect(w.events.filter((e) => e.type === 'webhook-refused' && e.reason === 'rate-limited')).toHaveLength(2);
    // A good notice from that address is heard: behind a proxy it may be the real sender's.
    const [goodBody, goodHeaders] = signed({ event: 'revoke', kid: w.issuer.kid });
    expect((await post(goodBody, goodHeaders, '127.0.0.2')).status).toBe(202);
    expect(w.app.get(JwksCacheService).getState().revokedKids).toEqual([w.issuer.kid]);
    // Another sender is not affected.
    expect((await post(...signed({ event: 'restore', kid: w.issuer.kid }), '127.0.0.1')).status).toBe(202);
    expect(w.app.get(JwksCacheService).getState().revokedKids).toEqual([]);
    // After the window, the sender is heard again.
    w.clock.advance(WEBHOOK_DEFAULTS.refusalWindowMs);
    expect((await post(...signed({ event: 'revoke', kid: w.issuer.kid }), '127.0.0.2')).status).toBe(202);
  });

  it('answers a limited sender without a credential before its body arrives, and counts by the connection, not X-Forwarded-For', async () => {
    const forged = (from: string, headers: Record<string, string> = {}) => post('{}', { 'x-jwks-signature': `t=${Math.floor(w.clock.now() / 1000)},v1=${'1'.repeat(64)}`, ...headers }, from);
    // Each refusal claims another client: the header is the sender's to choose, so it changes nothing.
    for (let i = 0; i < WEBHOOK_DEFAULTS.maxRefusalsPerSender; i++) expect((await forged('127.0.0.2', { 'x-forwarded-for': `203.0.113.${i}` })).status).toBe(401);
    expect((await forged('127.0.0.2', { 'x-forwarded-for': '198.51.100.7' })).status).toBe(429);
    // Headers announcing 60 KB, and no body at all: the 429 comes anyway.
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: w.port, path: WEBHOOK_PATH, method: 'POST', localAddress: '127.0.0.2', headers: { 'content-type': 'application/json', 'content-length': '60000' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
      req.flushHeaders();
    });
    expect(status).toBe(429);
  });
});
