import { JwksCacheService } from '../../lib';
import { WEBHOOK_DEFAULTS } from '../../lib/jwks-auth.constants';
import { HTTP_PLATFORMS } from '../fixtures/app';
import { WEBHOOK_AUTH0, WebhookApp } from '../fixtures/webhook-app';

// Behind a reverse proxy (a load balancer, an ingress) every sender has the proxy's address. An
// unauthenticated sender refused 20 times a minute must not deny the real sender's signed
// revocation (or Auth0's delivery) for as long as it keeps that low rate up: an authenticated
// notice is acted on whatever its address's refusal count; only unauthenticated requests wait.

describe.each(HTTP_PLATFORMS)('rotation webhook behind a shared address (%s)', (platform) => {
  let w: WebhookApp;

  beforeEach(async () => {
    w = await WebhookApp.start(platform);
  });
  afterEach(async () => {
    await w.close();
  });

  // Every request from 127.0.0.1, as through a proxy.
  const post = (body: string, headers: Record<string, string>) => w.post(body, headers);
  const signed = (notice: object) => w.signed(notice);

  const forged = () => post('{}', { 'x-jwks-signature': `t=${Math.floor(w.clock.now() / 1000)},v1=${'1'.repeat(64)}` });
  const noCredentials = () => post('{}', {});
  const auth0Revoke = (kid: string) =>
    post(JSON.stringify([{ log_id: '1', data: { type: 'sapi', details: { request: { method: 'PUT', path: `/api/v2/keys/signing/${kid}/revoke` }, response: { statusCode: 200 } } } }]), { authorization: WEBHOOK_AUTH0 });

  it("a signed revocation is acted on while an attacker keeps the shared address over the limit, window after window", async () => {
    for (let window = 0; window < 3; window++) {
      // 20 forged requests at the start of each window: a few a minute is all it takes.
      for (let i = 0; i < WEBHOOK_DEFAULTS.maxRefusalsPerSender; i++) expect((await forged()).status).toBe(401);
      expect((await forged()).status).toBe(429);
      expect((await noCredentials()).status).toBe(429);
      // The real sender's notice, mid-window.
      w.clock.advance(WEBHOOK_DEFAULTS.refusalWindowMs / 2);
      expect((await post(...signed({ event: window % 2 === 0 ? 'revoke' : 'restore', kid: w.issuer.kid }))).status).toBe(202);
      expect(w.app.get(JwksCacheService).getState().revokedKids).toEqual(window % 2 === 0 ? [w.issuer.kid] : []);
      w.clock.advance(WEBHOOK_DEFAULTS.refusalWindowMs / 2);
    }
    // Unauthenticated requests are still answered 429 (not 401) while over the limit.
    expect(w.events.filter((e) => e.type === 'webhook-refused' && e.reason === 'rate-limited').length).toBe(6);
    expect(w.events.filter((e) => e.type === 'webhook-received')).toHaveLength(3);
  });

  it("an Auth0 delivery with the right Authorization is acted on while the shared address is over the limit", async () => {
    for (let i = 0; i < WEBHOOK_DEFAULTS.maxRefusalsPerSender; i++) expect((await post('{}', { authorization: 'Bearer wrong-0123456789' })).status).toBe(401);
    expect((await post('{}', { authorization: 'Bearer wrong-0123456789' })).status).toBe(429);
    expect((await auth0Revoke(w.issuer.kid)).status).toBe(202);
    expect(w.app.get(JwksCacheService).getState().revokedKids).toEqual([w.issuer.kid]);
  });

  it('a forged or replayed signature is still 429 while over the limit, and a replay of the accepted notice is not acted on twice', async () => {
    for (let i = 0; i < WEBHOOK_DEFAULTS.maxRefusalsPerSender; i++) expect((await forged()).status).toBe(401);
    const notice = signed({ event: 'revoke', kid: w.issuer.kid });
    expect((await post(...notice)).status).toBe(202);
    expect((await post(...notice)).status).toBe(429);
    expect((await forged()).status).toBe(429);
    expect((await post('x'.repeat(WEBHOOK_DEFAULTS.maxBodyBytes + 1), notice[1])).status).toBe(429);
    expect(w.events.filter((e) => e.type === 'webhook-received')).toHaveLength(1);
  });
});
