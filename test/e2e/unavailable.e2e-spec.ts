import { jest } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { JwksAuthGuard, JwksAuthModule, JwksCacheService, KeySetUnavailableError, type JwksAuthModuleOptions } from '../../lib';
import { FakeClock, TestIssuer, waitFor } from '../../lib/testing';
import { JWKS_DEFAULTS } from '../../lib/jwks-auth.constants';
import { bootApp, issuerOptions, HTTP_PLATFORMS } from '../fixtures/app';

/**
 * No usable key set: the server cannot verify, the token is not at fault. The client gets 503
 * with Retry-After (so it retries instead of sending its user to log in again at an IdP that is
 * already down), or 401 when the app asks for it with `unavailableStatus: 401`.
 */
describe.each(HTTP_PLATFORMS)('no usable key set over HTTP (%s)', (platform) => {
  let issuer: TestIssuer;
  let app: INestApplication | undefined;
  let spy: ReturnType<typeof jest.spyOn>;
  let clock: FakeClock;

  beforeEach(async () => {
    clock = new FakeClock();
    issuer = await TestIssuer.start();
    issuer.setFault({ status: 500 });
    spy = jest.spyOn(JwksAuthGuard.prototype, 'handleRequest');
  });
  afterEach(async () => {
    spy.mockRestore();
    await app?.close();
    app = undefined;
    await issuer.close();
  });

  async function boot(overrides: Partial<JwksAuthModuleOptions> = {}) {
    app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { failOnWarmupError: false, ...overrides }))] }, { clock, platform });
    expect(app.get(JwksCacheService).getState().phase).toBe('empty');
    return request(app.getHttpServer());
  }
  /** The KeySetUnavailableError the guard refused with (the last one handed to handleRequest). */
  const lastUnavailable = (): KeySetUnavailableError => {
    const errors = (spy.mock.calls as unknown[][]).map((args) => args[0]).filter((e) => e instanceof KeySetUnavailableError);
    expect(errors.length).toBeGreaterThan(0);
    return errors.at(-1) as KeySetUnavailableError;
  };

  it('answers a valid-looking token with 503, a generic body and Retry-After in whole seconds', async () => {
    const http = await boot();
    const res = await http.get('/me').set('Authorization', `Bearer ${issuer.sign()}`);
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ message: 'Service Unavailable', statusCode: 503 });
    expect(res.headers['www-authenticate']).toBeUndefined();
    const err = lastUnavailable();
    const expected = err.retryAfterMs === undefined ? Math.ceil(JWKS_DEFAULTS.unavailableRetryMaxMs / 1000) : Math.max(1, Math.ceil(err.retryAfterMs / 1000));
    expect(res.headers['retry-after']).toBe(String(expected));
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });

  it("passes on the IdP's own Retry-After: the next fetch attempt is that far away", async () => {
    issuer.setFault({ status: 503, headers: { 'retry-after': '120' } });
    const http = await boot();
    const res = await http.get('/me').set('Authorization', `Bearer ${issuer.sign()}`).expect(503);
    expect(lastUnavailable().retryAfterMs).toBe(120_000);
    expect(res.headers['retry-after']).toBe('120');
    await clock.advance(60_000);
    const later = await http.get('/me').set('Authorization', `Bearer ${issuer.sign()}`).expect(503);
    expect(later.headers['retry-after']).toBe('60');
  });

  it('answers 503 on a route left to the global guard too', async () => {
    const http = await boot({ globalGuard: true });
    const res = await http.get('/unguarded').set('Authorization', `Bearer ${issuer.sign()}`).expect(503);
    expect(res.headers['retry-after']).toMatch(/^[1-9]\d*$/);
  });

  it('still answers 401 with the plain challenge when no token was presented', async () => {
    const http = await boot();
    const res = await http.get('/me').expect(401);
    expect(res.headers['www-authenticate']).toBe('Bearer');
    expect(res.headers['retry-after']).toBeUndefined();
  });

  it('still answers 401 invalid_token to a token refused before any key is needed (expired)', async () => {
    const http = await boot();
    const res = await http.get('/me').set('Authorization', `Bearer ${issuer.sign({ exp: Math.floor(clock.now() / 1000) - 60 })}`).expect(401);
    expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
    expect(res.headers['retry-after']).toBeUndefined();
  });

  it('answers 401 instead with unavailableStatus: 401', async () => {
    const http = await boot({ unavailableStatus: 401 });
    const res = await http.get('/me').set('Authorization', `Bearer ${issuer.sign()}`).expect(401);
    expect(res.body).toEqual({ message: 'Unauthorized', statusCode: 401 });
    expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
    expect(res.headers['retry-after']).toBeUndefined();
    lastUnavailable();
  });

  it('serves again once the IdP is back', async () => {
    const http = await boot();
    const token = issuer.sign();
    await http.get('/me').set('Authorization', `Bearer ${token}`).expect(503);
    issuer.clearFault();
    const cache = app!.get(JwksCacheService);
    await clock.advance(JWKS_DEFAULTS.backoffMaxMs);
    await waitFor(() => cache.getState().phase === 'fresh');
    await http.get('/me').set('Authorization', `Bearer ${token}`).expect(200);
  });
});
