import { generateKeyPairSync } from 'node:crypto';
import { TokenEndpointError, TokenEndpointThrottledError } from '../../../lib';
import { CLIENT_CREDENTIALS_DEFAULTS } from '../../../lib/jwks-auth.constants';
import { FakeClock, TestIssuer } from '../../../lib/testing';
import type { ClientCredentialsService } from '../../../lib/client-credentials/client-credentials.service';
import type { ClientCredentialsEvent } from '../../../lib/client-credentials/client-credentials.events';
import { privateKeyJwtAuthenticator } from '../../../lib/client-credentials/client.authentication';
import { API, CLIENT_ID, CLIENT_SECRET, eventually, rejection, serviceFor } from './fixtures';

const MIN = 60_000;

describe('ClientCredentialsService against a real token endpoint', () => {
  let issuer: TestIssuer;
  let clock: FakeClock;
  let service: ClientCredentialsService;
  let events: ClientCredentialsEvent[];
  /** Waits until `n` token requests have ended for the main service (the server counts a request before the client has read the answer). */
  const requestsEnded = (n: number) => eventually(() => events.filter((e) => e.type === 'client-token-requested').length === n);
  const services: ClientCredentialsService[] = [];
  const make = (...args: Parameters<typeof serviceFor> extends [unknown, unknown, ...infer R] ? R : never) => {
    const built = serviceFor(issuer, clock, ...args);
    services.push(built.service);
    return built;
  };

  beforeEach(async () => {
    clock = new FakeClock(Date.now());
    issuer = await TestIssuer.start({ clock });
    issuer.addClient({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, tokenLifetimeSeconds: 3600 });
    ({ service, events } = make());
  });
  afterEach(async () => {
    for (const s of services.splice(0)) s.close();
    await issuer.close();
  });

  it('answers 1,000 concurrent getToken calls with one token request', async () => {
    const tokens = await Promise.all(Array.from({ length: 1000 }, () => service.getToken()));
    expect(new Set(tokens).size).toBe(1);
    expect(issuer.tokenRequestCount).toBe(1);
    expect(issuer.issuedTokens).toEqual([tokens[0]]);
    expect(issuer.tokenRequests[0]).toMatchObject({ clientId: CLIENT_ID, method: 'client_secret_post', audience: API, outcome: 'ok' });
  });

  it('keys the cache by audience and normalised scope', async () => {
    const a = await service.getToken({ scope: 'read:users  create:users read:users' });
    const b = await service.getToken({ scope: 'create:users read:users' });
    const c = await service.getToken({ audience: 'https://other.example.test/' });
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    expect(issuer.tokenRequests.map((r) => [r.audience, r.scope])).toEqual([
      [API, 'create:users read:users'],
      ['https://other.example.test/', null],
    ]);
  });

  it('serves the token until the refresh-ahead point, then refreshes once in the background before expiry', async () => {
    const first = await service.getTokenResponse();
    expect(first.expiresAt).toBe(clock.now() + 3600_000);
    // Refresh-ahead at 80% of (60 min - 5 min margin) = 44 min.
    await clock.advance(43 * MIN);
    expect(await service.getToken()).toBe(first.accessToken);
    expect(issuer.tokenRequestCount).toBe(1);
    await clock.advance(1 * MIN + 1);
    await requestsEnded(2);
    await eventually(async () => (await service.getToken()) !== first.accessToken);
    // No caller waited, and one request per refresh: nothing more until the new token's own point.
    await clock.advance(40 * MIN);
    expect(issuer.tokenRequestCount).toBe(2);
    await clock.advance(5 * MIN);
    await eventually(() => issuer.tokenRequestCount === 3);
  });

  it('a caller past the margin waits for a new token when the background refresh could not run', async () => {
    issuer.setTokenLifetime(CLIENT_ID, 60);
    const first = await service.getToken();
    // Background refresh at 24 s fails with a 503; the gate opens 1-2 s later; the next try succeeds.
    issuer.queueTokenFaults({ status: 503 });
    await clock.advance(24_001);
    await requestsEnded(2);
    expect(issuer.tokenRequestCount).toBe(2);
    expect(await service.getToken()).toBe(first);
    await clock.advance(10_000);
    await eventually(() => issuer.tokenRequestCount === 3);
    await eventually(async () => (await service.getToken()) !== first);
  });

  describe('throttled by the endpoint (429)', () => {
    const cases: [string, () => Record<string, string>, number][] = [
      ['Retry-After', () => ({ 'retry-after': '120' }), 120_000],
      ['x-ratelimit-reset (Unix seconds)', () => ({ 'x-ratelimit-reset': String(Math.ceil((clock.now() + 90_000) / 1000)) }), 90_000],
      ['x-ratelimit-reset (delta-seconds)', () => ({ 'x-ratelimit-reset': '75' }), 75_000],
      ['auth0-client-quota-limit', () => ({ 'auth0-client-quota-limit': 'b=per_hour;q=10;r=0;t=600,b=per_day;q=50;r=40;t=43200' }), 600_000],
    ];

    it.each(cases)('honours %s: no request before the time it gives, callers fail fast meanwhile', async (_name, headers, waitMs) => {
      const start = clock.now();
      issuer.queueTokenFaults({ status: 429, headers: headers(), body: { error: 'too_many_requests' } });
      const first = await rejection(service.getToken());
      expect(first).toBeInstanceOf(TokenEndpointError);
      expect(first).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT', kind: 'status', status: 429 });
      // The caller whose request met the 429 learns the wait too.
      expect(Math.abs(((first as TokenEndpointError).retryAt ?? 0) - (start + waitMs))).toBeLessThanOrEqual(1_000);
      // Everyone after fails at once, without a request, until the time given.
      for (const t of [0, waitMs / 2, waitMs - 1_000]) {
        await clock.advance(start + t - clock.now());
        const err = await rejection(service.getToken());
        expect(err).toBeInstanceOf(TokenEndpointThrottledError);
        expect(err.code).toBe('ERR_TOKEN_ENDPOINT_THROTTLED');
        expect(Math.abs((err.retryAt ?? 0) - (start + waitMs))).toBeLessThanOrEqual(1_000);
      }
      expect(issuer.tokenRequestCount).toBe(1);
      await clock.advance(start + waitMs + 1_000 - clock.now());
      expect(typeof (await service.getToken())).toBe('string');
      expect(issuer.tokenRequestCount).toBe(2);
    });

    it('keeps serving a still-valid token while throttled, past its margin, until it expires', async () => {
      const start = clock.now();
      const held = await service.getToken();
      // The background refresh at 44 min meets a 429 asking for 20 minutes.
      issuer.setTokenFault({ status: 429, headers: { 'retry-after': '1200' } });
      await clock.advance(44 * MIN + 1);
      await requestsEnded(2);
      for (const at of [45, 54, 56, 59]) {
        await clock.advance(start + at * MIN - clock.now());
        expect(await service.getToken()).toBe(held);
      }
      expect(issuer.tokenRequestCount).toBe(2);
      // Expired (less than minRemainingMs left): refused at once, still no request before 64 min.
      await clock.advance(start + 60 * MIN - clock.now());
      expect(await rejection(service.getToken())).toBeInstanceOf(TokenEndpointThrottledError);
      expect(issuer.tokenRequestCount).toBe(2);
      issuer.clearTokenFault();
      await clock.advance(start + 64 * MIN + 1_000 - clock.now());
      await eventually(async () => (await service.getToken().catch(() => held)) !== held);
      expect(issuer.tokenRequestCount).toBe(3);
    });

    it.each([
      ['Retry-After', { 'retry-after': '315360000' }],
      ['x-ratelimit-reset', { 'x-ratelimit-reset': '99999999999' }],
      ['auth0-client-quota-limit', { 'auth0-client-quota-limit': 'b=per_day;q=1;r=0;t=31536000' }],
    ])('caps a hostile %s at maxRetryAfterMs', async (_name, headers) => {
      issuer.queueTokenFaults({ status: 429, headers });
      const start = clock.now();
      await rejection(service.getToken());
      const err = await rejection(service.getToken());
      expect(err.retryAt).toBe(start + CLIENT_CREDENTIALS_DEFAULTS.maxRetryAfterMs);
      await clock.advance(CLIENT_CREDENTIALS_DEFAULTS.maxRetryAfterMs + 1);
      expect(typeof (await service.getToken())).toBe('string');
    });
  });

  describe('endpoint down', () => {
    it('serves a valid cached token (even past its margin) while the endpoint is unreachable', async () => {
      const held = await service.getToken();
      await issuer.pause();
      try {
        await clock.advance(56 * MIN);
        expect(await service.getToken()).toBe(held);
        await clock.advance(3 * MIN);
        expect(await service.getToken()).toBe(held);
      } finally {
        await issuer.resume();
      }
    });

    it('without a token: a typed error, and requests at a bounded rate however often callers ask', async () => {
      issuer.setTokenFault({ status: 503 });
      const first = await rejection(service.getToken());
      expect(first).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT', kind: 'status', status: 503 });
      let calls = 0;
      // Ten minutes of a caller every 100 ms (6,000 calls).
      for (let i = 0; i < 6_000; i++) {
        await clock.advance(100);
        calls++;
        const err = await rejection(service.getToken());
        expect(err.code === 'ERR_TOKEN_ENDPOINT' || err.code === 'ERR_TOKEN_ENDPOINT_THROTTLED').toBe(true);
      }
      expect(calls).toBe(6_000);
      // Backoff 1 s doubling to 60 s, jittered: far below one request per call.
      expect(issuer.tokenRequestCount).toBeGreaterThan(5);
      expect(issuer.tokenRequestCount).toBeLessThan(40);
    });

    it('refuses garbage answers with a typed error that quotes none of the body', async () => {
      const bodies = ['<html>secret-page</html>', { access_token: '' }, { access_token: 'a b', token_type: 'Bearer' }, { access_token: 'tok-secret-page', token_type: 'Bearer', expires_in: -5 }, { access_token: 'tok-secret-page', expires_in: 60 }];
      for (const body of bodies) {
        issuer.queueTokenFaults({ status: 200, body });
        const err = await rejection(service.getToken());
        expect(err).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT', kind: 'invalid-response' });
        expect(err.message).not.toMatch(/secret-page/);
        await clock.advance(2 * MIN);
      }
    });
  });

  describe('client authentication', () => {
    it('client_secret_basic form-encodes an id and a secret that need it', async () => {
      const clientId = 'id:with spaces+plus&é';
      const clientSecret = 'p@ss:w/rd +&=%é';
      issuer.addClient({ clientId, clientSecret });
      const { service: basic } = make({ clientId, clientSecret, clientAuthentication: 'client_secret_basic' });
      expect(typeof (await basic.getToken())).toBe('string');
      expect(issuer.tokenRequests.at(-1)).toMatchObject({ clientId, method: 'client_secret_basic', outcome: 'ok' });
    });

    it('a wrong secret is invalid-client, followed by a short backoff (no retry storm)', async () => {
      const { service: wrong } = make({ clientSecret: 'not-the-secret' });
      const err = await rejection(wrong.getToken());
      expect(err).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT', kind: 'invalid-client', status: 401, oauthError: 'invalid_client' });
      for (let i = 0; i < 100; i++) expect(await rejection(wrong.getToken())).toBeInstanceOf(TokenEndpointThrottledError);
      expect(issuer.tokenRequestCount).toBe(1);
      await clock.advance(CLIENT_CREDENTIALS_DEFAULTS.clientErrorBackoffMs);
      await rejection(wrong.getToken());
      expect(issuer.tokenRequestCount).toBe(2);
    });

    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ed = generateKeyPairSync('ed25519');
    it.each([
      ['RS256 from a PEM string', rsa, () => rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, undefined, 'RS256'],
      ['PS256 from a KeyObject', rsa, () => rsa.privateKey, 'PS256' as const, 'PS256'],
      ['ES256 from a KeyObject', ec, () => ec.privateKey, undefined, 'ES256'],
      ['ES256 from a private JWK', ec, () => ec.privateKey.export({ format: 'jwk' }), undefined, 'ES256'],
      ['EdDSA from a private JWK', ed, () => ed.privateKey.export({ format: 'jwk' }), undefined, 'EdDSA'],
    ])('private_key_jwt: %s, verified by the endpoint, a fresh jti per request', async (_name, pair, key, signingAlgorithm, alg) => {
      const clientId = `jwt-client-${alg}`;
      issuer.addClient({ clientId, publicKey: pair.publicKey });
      const { service: jwt } = make({ clientId, clientSecret: undefined, privateKey: key(), privateKeyId: 'k1', ...(signingAlgorithm ? { signingAlgorithm } : {}) });
      const a = await jwt.getToken();
      // A second request (another audience) carries a new assertion: the endpoint refuses a replayed jti.
      const b = await jwt.getToken({ audience: 'https://other.example.test/' });
      expect(a).not.toBe(b);
      expect(issuer.tokenRequests.slice(-2).map((r) => [r.method, r.outcome])).toEqual([
        ['private_key_jwt', 'ok'],
        ['private_key_jwt', 'ok'],
      ]);
    });

    it('TestIssuer refuses a replayed assertion and one for another audience', async () => {
      issuer.addClient({ clientId: 'jwt-replay', publicKey: ec.publicKey });
      const post = (assertion: string) =>
        fetch(issuer.tokenEndpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion }),
        }).then(async (r) => [r.status, ((await r.json()) as { error_description?: string }).error_description ?? 'ok']);
      const good = privateKeyJwtAuthenticator('jwt-replay', ec.privateKey, { algorithm: 'ES256' }).parts(issuer.tokenEndpoint, clock.now()).form.client_assertion;
      expect(await post(good)).toEqual([200, 'ok']);
      expect(await post(good)).toEqual([401, 'assertion jti replayed']);
      const elsewhere = privateKeyJwtAuthenticator('jwt-replay', ec.privateKey, { algorithm: 'ES256', assertionAudience: 'https://evil.example.test/' }).parts(issuer.tokenEndpoint, clock.now()).form.client_assertion;
      expect(await post(elsewhere)).toEqual([401, 'assertion aud must be the token endpoint or the issuer']);
    });

    it('private_key_jwt signed with a key the endpoint does not know is invalid-client', async () => {
      const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      issuer.addClient({ clientId: 'jwt-other', publicKey: ec.publicKey });
      const { service: jwt } = make({ clientId: 'jwt-other', clientSecret: undefined, privateKey: other.privateKey });
      expect(await rejection(jwt.getToken())).toMatchObject({ kind: 'invalid-client' });
    });
  });

  it('finds the token endpoint in the issuer discovery document', async () => {
    const { service: discovered } = make({ tokenEndpoint: undefined, issuer: issuer.issuer });
    await Promise.all([discovered.getToken(), discovered.getToken({ audience: 'https://b.example.test/' })]);
    expect(issuer.discoveryRequestCount).toBe(1);
    expect(issuer.tokenRequestCount).toBe(2);
  });

  it('a downstream 401 drops the token at most once per interval, and only the token held', async () => {
    const first = await service.getToken();
    expect(service.invalidate('some-other-token')).toBe(false);
    expect(service.invalidate(first)).toBe(true);
    const second = await service.getToken();
    expect(second).not.toBe(first);
    expect(service.invalidate(second)).toBe(false);
    expect(await service.getToken()).toBe(second);
    await clock.advance(CLIENT_CREDENTIALS_DEFAULTS.minInvalidateIntervalMs);
    expect(service.invalidate(second)).toBe(true);
    expect(issuer.tokenRequests.map((r) => r.outcome)).toEqual(['ok', 'ok']);
  });

  it('holds at most maxCacheEntries (audience, scope) pairs in memory, dropping the oldest and its timer', async () => {
    service.close();
    const { service: small } = make({ maxCacheEntries: 2 });
    const a = await small.getToken({ audience: 'https://a.example.test/' });
    await small.getToken({ audience: 'https://b.example.test/' });
    expect(clock.pending()).toHaveLength(2);
    await small.getToken({ audience: 'https://c.example.test/' });
    expect(issuer.tokenRequestCount).toBe(3);
    // a's slot and timer went; b and c keep theirs.
    expect(clock.pending()).toHaveLength(2);
    // The store still holds a's token until it expires: taking it back costs no request.
    expect(await small.getToken({ audience: 'https://a.example.test/' })).toBe(a);
    expect(issuer.tokenRequestCount).toBe(3);
  });

  it('reports a stale token served once per token, not per call', async () => {
    const held = await service.getToken();
    issuer.setTokenFault({ status: 503 });
    await clock.advance(56 * MIN);
    for (let i = 0; i < 50; i++) expect(await service.getToken()).toBe(held);
    expect(events.filter((e) => e.type === 'client-token-stale-served')).toHaveLength(1);
  });

  it('stops background refreshes at close', async () => {
    await service.getToken();
    expect(clock.pending()).toHaveLength(1);
    service.close();
    expect(clock.pending()).toHaveLength(0);
  });
});
