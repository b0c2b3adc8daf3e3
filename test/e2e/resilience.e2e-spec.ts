import { randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { JwksAuthModule, JwksCacheService, type JwksAuthModuleOptions } from '../../lib';
import { FakeClock, TestIssuer, waitFor, type TestIssuerFault } from '../../lib/testing';
import { bootApp, issuerOptions } from '../fixtures/app';

/**
 * The fault table of issue 3: what the JWKS endpoint does, what clients see, and how many
 * requests the endpoint receives. Policy time runs on a FakeClock; HTTP is real.
 */
describe('resilience against a failing, slow, rate-limiting or hostile JWKS endpoint', () => {
  let issuer: TestIssuer;
  let app: INestApplication;
  let clock: FakeClock;
  let cache: JwksCacheService;

  async function boot(overrides: Partial<JwksAuthModuleOptions> = {}): Promise<void> {
    issuer = await TestIssuer.start();
    clock = new FakeClock();
    app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer, overrides))] }, { clock });
    cache = app.get(JwksCacheService);
  }
  afterEach(async () => {
    await app?.close();
    await issuer?.close();
  });

  const get = (token: string) => request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${token}`);

  /** 100 tokens with random unknown kids, all refused; returns how many upstream requests they caused. */
  async function floodUnknownKids(count = 100): Promise<number> {
    const before = issuer.requestCount;
    await Promise.all(Array.from({ length: count }, () => get(issuer.sign({}, { header: { kid: randomUUID() } })).expect(401)));
    return issuer.requestCount - before;
  }

  describe.each<[string, TestIssuerFault | 'refuse']>([
    ['answers 500', { status: 500 }],
    ['resets the connection', { reset: true }],
    ['refuses connections', 'refuse'],
  ])('when the endpoint %s', (_name, fault) => {
    it('keeps cached kids passing, refuses unknown kids without a fetch, and retries on the backoff', async () => {
      await boot();
      const valid = issuer.sign({ sub: 'alice' });
      if (fault === 'refuse') await issuer.pause();
      else issuer.setFault(fault);
      await cache.refresh();
      const s = cache.getState();
      expect(s.consecutiveFailures).toBe(1);
      expect(s.nextAttemptAt).not.toBeNull();
      await get(valid).expect(200);
      expect(await floodUnknownKids()).toBe(0);
      expect(cache.getState().fetchCount).toBe(2);
      // Backoff: the first retry comes within 1 s, the next ones within 2 s, 4 s ... never sooner than the state says.
      const attemptsBefore = cache.getState().fetchCount;
      await clock.advance(cache.getState().nextAttemptAt! - clock.now() - 1);
      expect(cache.getState().fetchCount).toBe(attemptsBefore);
      await clock.advance(1);
      await waitFor(() => cache.getState().fetchCount === attemptsBefore + 1);
      expect(cache.getState().consecutiveFailures).toBe(2);
      await get(valid).expect(200);
      if (fault === 'refuse') await issuer.resume();
      else issuer.clearFault();
      await clock.advance(cache.getState().nextAttemptAt! - clock.now());
      await waitFor(() => cache.getState().consecutiveFailures === 0);
      expect(cache.getState().phase).toBe('fresh');
    });
  });

  it('sends no request before a 429 Retry-After has passed, however many unknown kids arrive', async () => {
    await boot();
    issuer.setFault({ status: 429, headers: { 'retry-after': '2' } });
    await cache.refresh();
    const failedAt = clock.now();
    expect(cache.getState().nextAttemptAt).toBe(failedAt + 2_000);
    issuer.resetCounts();
    expect(await floodUnknownKids()).toBe(0);
    await clock.advance(1_999);
    expect(await floodUnknownKids()).toBe(0);
    expect(issuer.requestCount).toBe(0);
    issuer.clearFault();
    await clock.advance(1);
    await waitFor(() => issuer.requestCount === 1);
    await waitFor(() => cache.getState().consecutiveFailures === 0);
  });

  it("honours Auth0's x-ratelimit-reset (Unix seconds) on a 429", async () => {
    await boot();
    const resetAt = Math.ceil(clock.now() / 1000) + 20;
    issuer.setFault({ status: 429, headers: { 'x-ratelimit-limit': '10', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(resetAt) } });
    await cache.refresh();
    expect(cache.getState().nextAttemptAt).toBe(resetAt * 1000);
    issuer.resetCounts();
    await clock.advance(resetAt * 1000 - clock.now() - 1);
    expect(await floodUnknownKids()).toBe(0);
    expect(issuer.requestCount).toBe(0);
  });

  describe.each<[string, TestIssuerFault]>([
    ['answers after 10 s', { delayMs: 10_000 }],
    ['trickles the body forever', { trickle: true, trickleMs: 20 }],
  ])('when the endpoint %s', (_name, fault) => {
    it('aborts the fetch at the timeout while cached kids keep passing', async () => {
      await boot({ fetch: { timeoutMs: 300 } });
      const valid = issuer.sign();
      issuer.setFault(fault);
      const refreshing = cache.refresh();
      await get(valid).expect(200); // a known kid never waits for the fetch in flight
      const state = await refreshing;
      expect(state.lastError).toMatchObject({ kind: 'timeout' });
      expect(state.keyCount).toBe(1);
      await get(valid).expect(200);
    });
  });

  describe.each<[string, TestIssuerFault, string]>([
    ['a 50 MB body', { bodyBytes: 50 * 1024 * 1024 }, 'too-large'],
    ['a never-ending chunked body', { endless: true }, 'too-large'],
    ['a declared 50 MB Content-Length', { bodyBytes: 50 * 1024 * 1024, headers: { 'content-length': String(50 * 1024 * 1024 + 11) } }, 'too-large'],
  ])('when the endpoint sends %s', (_name, fault, kind) => {
    it('stops reading at the size cap and keeps the last good set', async () => {
      await boot();
      issuer.setFault(fault);
      const state = await cache.refresh();
      expect(state.lastError).toMatchObject({ kind });
      // We read at most the 512 KiB cap; what the server got out is that plus socket buffers, far from 50 MB.
      expect(issuer.streamedBytes).toBeLessThan(8 * 1024 * 1024);
      await get(issuer.sign()).expect(200);
    });
  });

  it('refuses a set of 100,000 keys at the key-count cap', async () => {
    await boot();
    issuer.setFault({ body: JSON.stringify({ keys: Array.from({ length: 100_000 }, () => ({})) }) });
    const state = await cache.refresh();
    expect(state.lastError).toMatchObject({ kind: 'too-large' });
    await get(issuer.sign()).expect(200);
  });

  describe.each<[string, TestIssuerFault, string]>([
    ['a 302 to another host', { status: 302, headers: { location: 'https://evil.example/jwks.json' } }, 'redirect'],
    ['HTML', { body: '<html><body>Login</body></html>', headers: { 'content-type': 'text/html' } }, 'content-type'],
    ['invalid JSON', { body: '{"keys": [' }, 'parse'],
    ['{"keys": {}}', { body: { keys: {} } }, 'parse'],
    ['a set with only unusable keys', { body: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }, { kty: 'RSA', n: 'AQAB', e: 'AQAB' }] } }, 'no-usable-keys'],
  ])('when the endpoint answers %s', (_name, fault, kind) => {
    it('counts a failed fetch, keeps the last good set and bounds unknown-kid fetches', async () => {
      await boot();
      const valid = issuer.sign();
      issuer.setFault(fault);
      const state = await cache.refresh();
      expect(state.lastError).toMatchObject({ kind });
      expect(state).toMatchObject({ keyCount: 1, consecutiveFailures: 1 });
      await get(valid).expect(200);
      expect(await floodUnknownKids()).toBe(0);
    });
  });

  it('skips individual bad keys but keeps the good ones', async () => {
    await boot();
    const good = issuer.publicJwk();
    issuer.setFault({ body: { keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'hmac' }, { ...good, use: 'enc', kid: 'enc' }, good, 'junk'] } });
    const state = await cache.refresh();
    expect(state).toMatchObject({ keyCount: 1, rejectedKeyCount: 3, consecutiveFailures: 0 });
    await get(issuer.sign()).expect(200);
  });

  it('follows Cache-Control max-age=60: fresh for 60 s, refreshed ahead of that', async () => {
    await boot();
    issuer.setFault({ headers: { 'cache-control': 'public, max-age=60' } });
    const state = await cache.refresh();
    expect(state.freshUntil! - state.fetchedAt!).toBe(60_000);
    expect(state.nextRefreshAt! - state.fetchedAt!).toBeGreaterThanOrEqual(30_000);
    expect(state.nextRefreshAt! - state.fetchedAt!).toBeLessThan(60_000);
    const before = issuer.requestCount;
    await clock.advance(state.nextRefreshAt! - clock.now());
    await waitFor(() => issuer.requestCount === before + 1);
  });

  it('revalidates with If-None-Match and counts a 304 without replacing the set', async () => {
    await boot();
    const kids = cache.getState().kids;
    const state = await cache.refresh();
    expect(issuer.notModifiedCount).toBe(1);
    expect(state).toMatchObject({ notModifiedCount: 1, kids, phase: 'fresh' });
  });

  it('refuses tokens and reports down after an outage longer than maxStaleMs, and recovers on the first good fetch', async () => {
    await boot({ cache: { ttlMs: 60_000, maxStaleMs: 120_000 } });
    const valid = issuer.sign({}, { expiresInSec: 3600 });
    issuer.setFault({ status: 503 });
    await clock.advance(60_000);
    await waitFor(() => cache.getState().consecutiveFailures >= 1);
    await get(valid).expect(200); // stale, still served
    await clock.advance(120_000);
    expect(cache.getState().phase).toBe('expired');
    await get(valid).expect(503);
    issuer.clearFault();
    await clock.advance(60_000);
    await waitFor(() => cache.getState().phase === 'fresh');
    await get(valid).expect(200);
  });
});
