import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { JwksAuthModule, JwksCacheService, JWKS_DEFAULTS, type JwksAuthModuleOptions } from '../../lib';
import { FakeClock, TestIssuer, type TestIssuerFault } from '../../lib/testing';
import { bootApp, issuerOptions } from '../fixtures/app';

/**
 * What real JWKS endpoints serve beyond the textbook `application/json`: storage buckets and
 * static web servers with their default content types, a UTF-8 BOM, CDN-cached responses with
 * `Age`, and broken caching headers. Real HTTP against a TestIssuer, policy time on a FakeClock.
 */
describe('JWKS response formats and caching headers, end to end', () => {
  let issuer: TestIssuer;
  let app: INestApplication | undefined;
  let clock: FakeClock;
  let cache: JwksCacheService;

  beforeEach(async () => {
    issuer = await TestIssuer.start();
    clock = new FakeClock();
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    await issuer.close();
  });

  async function boot(overrides: Partial<JwksAuthModuleOptions> = {}): Promise<void> {
    app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer, overrides))] }, { clock });
    cache = app.get(JwksCacheService);
  }
  const get = (token: string) => request(app!.getHttpServer()).get('/me').set('Authorization', `Bearer ${token}`);

  describe.each<[string, TestIssuerFault]>([
    ['application/octet-stream (S3, GCS default)', { headers: { 'content-type': 'application/octet-stream' } }],
    ['binary/octet-stream (S3 upload default)', { headers: { 'content-type': 'binary/octet-stream' } }],
    ['text/plain (nginx default for .json outside mime.types)', { headers: { 'content-type': 'text/plain; charset=utf-8' } }],
    ['application/jwk-set+json (RFC 7517)', { headers: { 'content-type': 'application/jwk-set+json' } }],
    ['a UTF-8 byte order mark before the JSON', { body: 'BOM' }],
    ['a BOM and text/plain', { body: 'BOM', headers: { 'content-type': 'text/plain' } }],
  ])('a valid set served with %s', (_name, fault) => {
    it('is accepted at warm-up and verifies tokens', async () => {
      issuer.setFault(fault.body === 'BOM' ? { ...fault, body: `\uFEFF${JSON.stringify(issuer.jwks())}` } : fault);
      await boot();
      expect(cache.getState()).toMatchObject({ keyCount: 1, consecutiveFailures: 0, phase: 'fresh' });
      await get(issuer.sign({ sub: 'alice' })).expect(200);
    });
  });

  it('refuses an HTML error page, naming the status and content type received but none of the body', async () => {
    await boot();
    issuer.setFault({ body: '<html><body>Login at secret.example</body></html>', headers: { 'content-type': 'text/html; charset=UTF-8' } });
    const state = await cache.refresh();
    expect(state.lastError).toMatchObject({ kind: 'content-type', status: 200 });
    expect(state.lastError!.message).toContain('content-type text/html');
    expect(state.lastError!.message).not.toMatch(/Login|secret|charset|<html/i);
    expect(state).toMatchObject({ keyCount: 1, consecutiveFailures: 1 });
    await get(issuer.sign()).expect(200); // the last good set keeps serving
  });

  describe.each<[string, string]>([
    ['an OAuth error object', '{"error":"not_found"}'],
    ['an array', '[]'],
    ['null', 'null'],
    ['a string', '"keys"'],
    ['{"keys": null}', '{"keys":null}'],
  ])('a 200 whose body is JSON but not a JWK Set (%s)', (_name, body) => {
    it("fails with kind 'parse', naming the content type", async () => {
      await boot();
      issuer.setFault({ body, headers: { 'content-type': 'application/json' } });
      const state = await cache.refresh();
      expect(state.lastError).toMatchObject({ kind: 'parse' });
      expect(state.lastError!.message).toContain('content-type application/json');
      expect(state.keyCount).toBe(1);
    });
  });

  it('names the status and content type of a failed status, never a header value or the body', async () => {
    await boot();
    issuer.setFault({ status: 503, body: 'upstream secret-host-7 down', headers: { 'content-type': 'text/html', server: 'secret-proxy/1.0' } });
    const state = await cache.refresh();
    expect(state.lastError).toMatchObject({ kind: 'status', status: 503 });
    expect(state.lastError!.message).toMatch(/503.*content-type text\/html/);
    expect(state.lastError!.message).not.toMatch(/secret/);
  });

  it('quotes a hostile content type sanitised and truncated', async () => {
    await boot();
    const hostile = `text/"<script>{x}` + 'a'.repeat(5_000);
    issuer.setFault({ body: 'nope', headers: { 'content-type': hostile } });
    const state = await cache.refresh();
    const message = state.lastError!.message;
    expect(message).not.toMatch(/["<>{}]/);
    expect(message.length).toBeLessThan(250);
    expect(message).toContain('content-type text/');
  });

  it('still caps a huge non-JSON text/plain body at maxResponseBytes', async () => {
    await boot();
    issuer.setFault({ bodyBytes: 50 * 1024 * 1024, headers: { 'content-type': 'text/plain' } });
    const state = await cache.refresh();
    expect(state.lastError).toMatchObject({ kind: 'too-large' });
    expect(state.lastError!.message).toContain('content-type text/plain');
    expect(issuer.streamedBytes).toBeLessThan(8 * 1024 * 1024);
    await get(issuer.sign()).expect(200);
  });

  it('counts Age against max-age: a set an IdP CDN has held for 50 min is fresh for 10 min, not an hour', async () => {
    issuer.setFault({ headers: { 'cache-control': 'public, max-age=3600', age: '3000' } });
    await boot();
    const state = cache.getState();
    expect(state.freshUntil! - state.fetchedAt!).toBe(600_000);
    expect(state.nextRefreshAt!).toBeLessThan(state.fetchedAt! + 600_000);
  });

  it('treats a negative or invalid max-age as stale (refetched after minTtlMs), not as the 10-minute default', async () => {
    for (const cacheControl of ['max-age=-1', 'max-age=ten']) {
      issuer.setFault({ headers: { 'cache-control': cacheControl } });
      await boot();
      const state = cache.getState();
      expect([cacheControl, state.freshUntil! - state.fetchedAt!]).toEqual([cacheControl, JWKS_DEFAULTS.minTtlMs]);
      await app!.close();
      app = undefined;
    }
  });

  it('counts Age on a 304 too', async () => {
    issuer.setFault({ headers: { 'cache-control': 'max-age=3600', age: '3300' } });
    await boot();
    const state = await cache.refresh();
    expect(issuer.notModifiedCount).toBe(1);
    expect(state.freshUntil! - state.fetchedAt!).toBe(300_000);
  });

  it('does not take a 304 to a request that named no ETag as a revalidation (nor as a redirect)', async () => {
    await issuer.close();
    issuer = await TestIssuer.start({ etag: false }); // we hold a set but have no ETag to send
    await boot();
    issuer.setFault({ status: 304, headers: { 'cache-control': 'max-age=3600' } });
    const state = await cache.refresh();
    expect(state).toMatchObject({ notModifiedCount: 0, consecutiveFailures: 1 });
    expect(state.lastError).toMatchObject({ kind: 'status', status: 304 });
  });
});
