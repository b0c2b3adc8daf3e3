import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, sign } from 'node:crypto';
import { FakeClock, TestIssuer } from '../../../lib/testing';
import type { ClientCredentialsService } from '../../../lib/client-credentials/client-credentials.service';
import type { ClientCredentialsEvent } from '../../../lib/client-credentials/client-credentials.events';
import { CLIENT_CREDENTIALS_DEFAULTS } from '../../../lib/jwks-auth.constants';
import { Registry } from 'prom-client';
import { loadPromClient } from '../../../lib/metrics/metrics.dependencies';
import { prometheusClientTokenMetrics } from '../../../lib/client-credentials/client-token.metrics';
import { ClientCredentialsService as Service } from '../../../lib/client-credentials/client-credentials.service';
import { resolveClientCredentialsOptions } from '../../../lib/client-credentials/client-credentials.options';
import { withClientCredentials } from '../../../lib/client-credentials/token.fetch';
import { CLIENT_ID, CLIENT_SECRET, rejection, serviceFor } from './fixtures';

const MIN = 60_000;

/** A hand-rolled token endpoint on 127.0.0.1: `handler` answers each request; the raw requests are kept. */
async function hostileEndpoint(handler: (req: IncomingMessage, body: string, res: ServerResponse) => void): Promise<{ url: string; count: () => number; close: () => Promise<void> }> {
  let count = 0;
  const server: Server = createServer((req, res) => {
    count++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, Buffer.concat(chunks).toString('utf8'), res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/oauth/token`,
    count: () => count,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** Everything an operator could see of a failure: the error (message, stack, JSON) and the events. */
function visible(err: unknown, events: ClientCredentialsEvent[]): string {
  const e = err as Error;
  return `${e.message}\n${e.stack ?? ''}\n${JSON.stringify(e)}\n${JSON.stringify(events)}`;
}

describe('attack 13: client credentials', () => {
  let issuer: TestIssuer;
  let clock: FakeClock;
  const services: ClientCredentialsService[] = [];
  const closers: Array<() => Promise<void>> = [];
  const make = (...args: Parameters<typeof serviceFor> extends [unknown, unknown, ...infer R] ? R : never) => {
    const built = serviceFor(issuer, clock, ...args);
    services.push(built.service);
    return built;
  };

  beforeEach(async () => {
    clock = new FakeClock(Date.now());
    issuer = await TestIssuer.start({ clock });
    issuer.addClient({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, tokenLifetimeSeconds: 3600 });
  });
  afterEach(async () => {
    for (const s of services.splice(0)) s.close();
    for (const c of closers.splice(0)) await c();
    await issuer.close();
  });

  it('an endpoint issuing tokens that are spent on arrival (expires_in 0.001) cannot turn each call into a request', async () => {
    issuer.setTokenFault({ status: 200, body: { access_token: 'spent-on-arrival', token_type: 'Bearer', expires_in: 0.001 } });
    const { service } = make();
    for (let i = 0; i < 200; i++) {
      await service.getToken().catch(() => undefined);
      await clock.advance(10);
    }
    // Two seconds of a caller every 10 ms: the backoff (1 s base) allows a handful of requests, not 200.
    expect(issuer.tokenRequestCount).toBeLessThan(10);
  });

  describe('an endpoint that echoes the request in error_description', () => {
    const echoing = () =>
      hostileEndpoint((req, body, res) => {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'invalid_request', error_description: `got authorization=${req.headers.authorization ?? ''} body=${body}` }));
      });

    it('client_secret_basic: the Basic credentials (base64 of id:secret) are not shown', async () => {
      const endpoint = await echoing();
      closers.push(endpoint.close);
      const { service, events } = make({ tokenEndpoint: endpoint.url, clientAuthentication: 'client_secret_basic' });
      const err = await rejection(service.getToken());
      expect(err).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT', kind: 'oauth-error' });
      const basic = Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64');
      const text = visible(err, events);
      expect(text).toContain('authorization='); // the echo did reach the message: the test can fail
      expect(text).not.toContain(basic);
      expect(text).not.toContain(basic.slice(0, 24));
      expect(text).not.toContain(CLIENT_SECRET);
    });

    it('private_key_jwt: the client assertion is not shown (it is a credential until it expires)', async () => {
      const endpoint = await hostileEndpoint((_req, body, res) => {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'invalid_request', error_description: `body=${new URLSearchParams(body).get('client_assertion') ?? ''}` }));
      });
      closers.push(endpoint.close);
      const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const { service, events } = make({ tokenEndpoint: endpoint.url, clientSecret: undefined, privateKey: rsa.privateKey });
      const err = await rejection(service.getToken());
      const text = visible(err, events);
      expect(text).toContain('body=');
      // The assertion's header is the same on every request: it must not be there, nor any part after it.
      expect(text).not.toContain('eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9');
    });

    it('a secret cut in two by the description cap does not leak its first half', async () => {
      const endpoint = await hostileEndpoint((_req, body, res) => {
        const secret = new URLSearchParams(body).get('client_secret') ?? '';
        // Copies of the secret, padded so that a cut at 4 × the cap would fall 30 characters into one.
        const cut = 4 * CLIENT_CREDENTIALS_DEFAULTS.maxErrorDescriptionChars;
        const pad = 'x'.repeat((((cut - 30) % secret.length) + secret.length) % secret.length);
        const description = `${pad}${secret.repeat(Math.ceil(cut / secret.length) + 1)}`;
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'invalid_request', error_description: description }));
      });
      closers.push(endpoint.close);
      const { service, events } = make({ tokenEndpoint: endpoint.url });
      const err = await rejection(service.getToken());
      const text = visible(err, events);
      expect(text).toContain('***');
      expect(text).not.toContain(CLIENT_SECRET.slice(0, 8));
    });
  });

  describe('hostile throttle headers', () => {
    it.each([
      ['a 503', { status: 503 }, CLIENT_CREDENTIALS_DEFAULTS.backoffMaxMs],
      ['a 500', { status: 500 }, CLIENT_CREDENTIALS_DEFAULTS.backoffMaxMs],
      ['an invalid_client', { status: 401, body: { error: 'invalid_client', error_description: 'wrong secret' } }, CLIENT_CREDENTIALS_DEFAULTS.clientErrorBackoffMs],
    ])('%s carrying Auth0\'s routine x-ratelimit-reset (quota not exhausted) is not a 50-minute lockout', async (_name, fault, longest) => {
      const { service } = make();
      // Auth0 sends the reset on every answer; with requests remaining it says nothing about waiting.
      const reset = String(Math.floor(clock.now() / 1000) + 3000);
      issuer.queueTokenFaults({ ...fault, headers: { 'x-ratelimit-limit': '100', 'x-ratelimit-remaining': '99', 'x-ratelimit-reset': reset } });
      await rejection(service.getToken());
      const err = await rejection(service.getToken());
      expect(err).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT_THROTTLED' });
      expect((err.retryAt as number) - clock.now()).toBeLessThanOrEqual(longest);
      await clock.advance(longest);
      expect(typeof (await service.getToken())).toBe('string');
    });

    it('a 429 with x-ratelimit-reset is still honoured (up to the cap)', async () => {
      const { service } = make();
      const reset = String(Math.floor(clock.now() / 1000) + 600);
      issuer.queueTokenFaults({ status: 429, headers: { 'x-ratelimit-limit': '100', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': reset } });
      await rejection(service.getToken());
      const err = await rejection(service.getToken());
      expect((err.retryAt as number) - clock.now()).toBeGreaterThan(590_000);
    });
  });

  describe("TestIssuer's private_key_jwt verification (what users test against) refuses what a real IdP refuses", () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    /** Posts a hand-built assertion; the outcome the endpoint recorded. */
    const post = async (assertion: string): Promise<string> => {
      const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: 'jwt-client', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion });
      const res = await fetch(issuer.tokenEndpoint, { method: 'POST', body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      await res.text();
      return issuer.tokenRequests.at(-1)?.outcome as string;
    };
    const claims = (over: Record<string, unknown> = {}) => {
      const iat = Math.floor(clock.now() / 1000);
      return { iss: 'jwt-client', sub: 'jwt-client', aud: issuer.tokenEndpoint, jti: `${Math.random()}`, iat, exp: iat + 60, ...over };
    };

    it('an assertion whose header names RS256 but which is an ECDSA (DER) signature by the EC key (alg confusion)', async () => {
      const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      issuer.addClient({ clientId: 'jwt-client', publicKey: ec.publicKey });
      const good = `${b64({ alg: 'ES256', typ: 'JWT' })}.${b64(claims())}`;
      expect(await post(`${good}.${sign('sha256', Buffer.from(good), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`)).toBe('ok');
      const input = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(claims())}`;
      expect(await post(`${input}.${sign('sha256', Buffer.from(input), ec.privateKey).toString('base64url')}`)).toBe('invalid_client');
    });

    it('an assertion whose header names ES256 signed by a P-384 key', async () => {
      const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' });
      issuer.addClient({ clientId: 'jwt-client', publicKey: ec.publicKey });
      const input = `${b64({ alg: 'ES256', typ: 'JWT' })}.${b64(claims())}`;
      expect(await post(`${input}.${sign('sha256', Buffer.from(input), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`)).toBe('invalid_client');
    });

    it.each([
      ['an exp ten years ahead and no iat', { iat: undefined, exp: Math.floor(Date.now() / 1000) + 10 * 365 * 86_400 }],
      ['an iat an hour in the future', { iat: Math.floor(Date.now() / 1000) + 3600, exp: Math.floor(Date.now() / 1000) + 3660 }],
      ['an nbf an hour in the future', { nbf: Math.floor(Date.now() / 1000) + 3600 }],
      ['an exp that is not a number', { exp: `${Math.floor(Date.now() / 1000) + 60}` }],
    ])('an assertion with %s', async (_name, over) => {
      const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
      issuer.addClient({ clientId: 'jwt-client', publicKey: rsa.publicKey });
      const body = claims(over);
      const input = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(JSON.parse(JSON.stringify(body)))}`;
      expect(await post(`${input}.${sign('sha256', Buffer.from(input), rsa.privateKey).toString('base64url')}`)).toBe('invalid_client');
    });
  });

  describe('a downstream API that answers 401 to every call', () => {
    it('costs at most two token requests per invalidate interval, sequential or concurrent', async () => {
      const api = await hostileEndpoint((_req, _body, res) => {
        res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' });
        res.end();
      });
      closers.push(api.close);
      const { service } = make();
      const call = withClientCredentials(service);
      const interval = CLIENT_CREDENTIALS_DEFAULTS.minInvalidateIntervalMs;
      // Ten intervals: 50 concurrent calls, then 20 sequential ones, per interval.
      for (let i = 0; i < 10; i++) {
        const answers = await Promise.all(Array.from({ length: 50 }, () => call(api.url)));
        expect(answers.every((r) => r.status === 401)).toBe(true);
        for (let j = 0; j < 20; j++) expect((await call(api.url)).status).toBe(401);
        await clock.advance(interval);
      }
      // The first token, then one per interval at most.
      expect(issuer.tokenRequestCount).toBeLessThanOrEqual(11);
      // Each call went out once, plus one retry per dropped token.
      expect(api.count()).toBeLessThanOrEqual(10 * 70 + 11);
    });
  });

  it('audiences chosen per call (one per tenant) cannot grow the metric series without bound', async () => {
    const registry = new Registry();
    const metrics = prometheusClientTokenMetrics(await loadPromClient(), registry);
    const resolved = resolveClientCredentialsOptions({ tokenEndpoint: issuer.tokenEndpoint, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, maxCacheEntries: 10 });
    const service = new Service(resolved.service, { clock, metrics });
    services.push(service);
    for (let i = 0; i < 400; i++) await service.getToken({ audience: `https://tenant-${i}.example.test/` });
    expect(issuer.tokenRequestCount).toBe(400);
    const series = (await registry.getMetricsAsJSON()).find((m) => m.name === 'jwks_auth_client_token_requests_total')!.values.length;
    // A bounded number of audience labels and "other", not one series per audience ever seen.
    expect(series).toBeLessThanOrEqual(CLIENT_CREDENTIALS_DEFAULTS.maxMetricAudiences + 1);
  });

  it('a pair dropped from the cache while its request is under way does not live on as a background refresh', async () => {
    // A proxy to the real endpoint that holds each request until released.
    const held: Array<() => void> = [];
    const proxy = await hostileEndpoint((req, body, res) => {
      held.push(() => {
        void fetch(issuer.tokenEndpoint, { method: 'POST', headers: { 'content-type': String(req.headers['content-type']) }, body }).then(async (r) => {
          res.writeHead(r.status, { 'content-type': 'application/json' });
          res.end(await r.text());
        });
      });
    });
    closers.push(proxy.close);
    const { service } = make({ tokenEndpoint: proxy.url, maxCacheEntries: 1 });
    const a = service.getToken({ audience: 'https://a.example.test/' });
    while (held.length < 1) await new Promise((r) => setTimeout(r, 5));
    // B pushes A out of the one-entry cache while A's request is under way.
    const b = service.getToken({ audience: 'https://b.example.test/' });
    while (held.length < 2) await new Promise((r) => setTimeout(r, 5));
    for (const go of held.splice(0)) go();
    await Promise.all([a, b]);
    const forA = () => issuer.tokenRequests.filter((r) => r.audience === 'https://a.example.test/').length;
    expect(forA()).toBe(1);
    // Three token lifetimes: B is refreshed ahead (it is cached); A, dropped, must not be.
    for (let i = 0; i < 12; i++) {
      await clock.advance(20 * MIN);
      for (const go of held.splice(0)) go();
      await new Promise((r) => setTimeout(r, 30));
      for (const go of held.splice(0)) go();
      await new Promise((r) => setTimeout(r, 30));
    }
    expect(forA()).toBe(1);
  });

  it('withClientCredentials: an API redirecting to another origin does not receive the token there', async () => {
    const seen: Array<string | undefined> = [];
    const elsewhere = await hostileEndpoint((req, _body, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(200);
      res.end('ok');
    });
    closers.push(elsewhere.close);
    const api = await hostileEndpoint((_req, _body, res) => {
      res.writeHead(302, { location: elsewhere.url.replace('127.0.0.1', 'localhost') });
      res.end();
    });
    closers.push(api.close);
    const { service } = make();
    const res = await withClientCredentials(service)(api.url);
    expect(res.status).toBe(200);
    expect(seen).toEqual([undefined]);
  });
});
