import { JwksCacheService } from '../../lib';
import { WEBHOOK_AUTH0, WebhookApp } from '../fixtures/webhook-app';

// A webhook request the module cannot fully act on (a kid it cannot hold) is refused whole: no
// `webhook-received` event for an action that was not done, and no half-applied Auth0 batch
// answered 400 (which the stream would retry, and retry, on the same entry).

describe('rotation webhook: an action it cannot carry out', () => {
  let w: WebhookApp;

  beforeEach(async () => {
    w = await WebhookApp.start();
  });
  afterEach(async () => {
    await w.close();
  });

  const sapiRevoke = (kid: string) => ({ log_id: kid, data: { type: 'sapi', details: { request: { method: 'PUT', path: `/api/v2/keys/signing/${encodeURIComponent(kid)}/revoke` }, response: { statusCode: 200 } } } });

  it('a signed revoke of a kid it cannot hold is 400 with no webhook-received event', async () => {
    expect((await w.post(...w.signed({ event: 'revoke', kid: 'not a key id' }))).status).toBe(400);
    expect(w.events.map((e) => e.type)).toEqual(['webhook-refused']);
    expect(w.events[0]).toMatchObject({ status: 400, reason: 'unknown-target' });
  });

  it('an Auth0 batch with one unusable kid changes nothing and is refused whole', async () => {
    expect((await w.post(JSON.stringify([sapiRevoke(w.issuer.kid), sapiRevoke('not a key id')]), { authorization: WEBHOOK_AUTH0 })).status).toBe(400);
    expect(w.app.get(JwksCacheService).getState().revokedKids).toEqual([]);
    expect(w.events.map((e) => e.type)).toEqual(['webhook-refused']);
  });
});
