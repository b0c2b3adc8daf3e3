import { JwksFetchError } from '../../lib';
import { httpDiscoveryFetcher, type DiscoveryRequest } from '../../lib/fetch/discovery.fetcher';
import { httpJwksFetcher } from '../../lib/fetch/jwks.fetcher';
import { TestIssuer } from '../../lib/testing';

/**
 * OIDC discovery over real HTTP against TestIssuers on 127.0.0.1: where the document is looked
 * for, when the RFC 8414 location is tried, and every way a document or its endpoint is refused.
 */
describe('httpDiscoveryFetcher against a real issuer', () => {
  const started: TestIssuer[] = [];
  async function start(options: Parameters<typeof TestIssuer.start>[0] = {}): Promise<TestIssuer> {
    const issuer = await TestIssuer.start(options);
    started.push(issuer);
    return issuer;
  }
  afterEach(async () => {
    await Promise.all(started.splice(0).map((i) => i.close()));
  });

  const discoveryRequest = (issuer: TestIssuer, overrides: Partial<DiscoveryRequest> = {}): DiscoveryRequest => ({
    issuer: issuer.issuer,
    timeoutMs: 2_000,
    maxResponseBytes: 64 * 1024,
    allowedJwksHosts: [],
    now: Date.now(),
    ...overrides,
  });
  async function refusal(request: DiscoveryRequest): Promise<JwksFetchError> {
    const outcome = await httpDiscoveryFetcher(request).then(
      (result) => ({ result }),
      (err: unknown) => ({ err }),
    );
    if (!('err' in outcome)) throw new Error(`expected a refusal, got ${JSON.stringify(outcome.result)}`);
    expect(outcome.err).toBeInstanceOf(JwksFetchError);
    return outcome.err as JwksFetchError;
  }
  const origin = (issuer: TestIssuer) => new URL(issuer.jwksUri).origin;
  const hostOf = (issuer: TestIssuer) => new URL(issuer.jwksUri).host;

  describe('finding the document', () => {
    it('reads jwks_uri from {issuer}/.well-known/openid-configuration, fetching nothing else', async () => {
      const issuer = await start();
      const result = await httpDiscoveryFetcher(discoveryRequest(issuer));
      expect(result).toEqual({ jwksUri: issuer.jwksUri, documentUri: `${origin(issuer)}/.well-known/openid-configuration`, maxAgeMs: undefined, document: 'oidc' });
      expect(issuer.discoveryRequestCount).toBe(1);
      expect(issuer.requestCount).toBe(0); // the key set itself is not fetched here
    });

    it('finds the document of an issuer with a path (Keycloak realm), and the JWKS it names is served', async () => {
      const issuer = await start({ path: '/realms/a' });
      expect(issuer.issuer).toBe(`${origin(issuer)}/realms/a`);
      const result = await httpDiscoveryFetcher(discoveryRequest(issuer));
      expect(result.documentUri).toBe(`${origin(issuer)}/realms/a/.well-known/openid-configuration`);
      expect(result.jwksUri).toBe(`${origin(issuer)}/realms/a/.well-known/jwks.json`);
      expect(result.jwksUri).toBe(issuer.jwksUri);
      const jwks = await httpJwksFetcher({ uri: result.jwksUri, etag: null, timeoutMs: 2_000, maxResponseBytes: 64 * 1024, now: Date.now() });
      expect(jwks.kind).toBe('ok');
      expect(issuer.requestCount).toBe(1);
    });

    it('reports the freshness the document’s Cache-Control gives', async () => {
      const issuer = await start();
      issuer.setDiscoveryFault({ headers: { 'cache-control': 'public, max-age=300' } });
      expect((await httpDiscoveryFetcher(discoveryRequest(issuer))).maxAgeMs).toBe(300_000);
    });

    it('accepts a document with a UTF-8 BOM, served as text/plain', async () => {
      const issuer = await start();
      issuer.setDiscoveryFault({ body: `\uFEFF${JSON.stringify(issuer.discoveryDocument())}`, headers: { 'content-type': 'text/plain' } });
      expect((await httpDiscoveryFetcher(discoveryRequest(issuer))).jwksUri).toBe(issuer.jwksUri);
    });

    it('ignores id_token_signing_alg_values_supported and every other member: discovery never widens algorithms', async () => {
      const issuer = await start();
      issuer.setDiscoveryFault({ body: { ...issuer.discoveryDocument(), id_token_signing_alg_values_supported: ['HS256', 'none'], token_endpoint: 42 } });
      const result = await httpDiscoveryFetcher(discoveryRequest(issuer));
      expect(result).toEqual({ jwksUri: issuer.jwksUri, documentUri: `${origin(issuer)}/.well-known/openid-configuration`, maxAgeMs: undefined, document: 'oidc' });
    });
  });

  describe('falling back to RFC 8414', () => {
    it('tries /.well-known/oauth-authorization-server{path} when the OIDC document answers 404', async () => {
      const issuer = await start({ path: '/realms/a', discovery: 'rfc8414' });
      const result = await httpDiscoveryFetcher(discoveryRequest(issuer));
      expect(result).toMatchObject({ jwksUri: issuer.jwksUri, documentUri: `${origin(issuer)}/.well-known/oauth-authorization-server/realms/a` });
      expect(issuer.discoveryRequestCount).toBe(2);
    });

    it('with `only` (a re-read), asks just that document: a 404 of the OIDC one never reaches the RFC 8414 location', async () => {
      const issuer = await start({ discovery: 'both' });
      issuer.queueDiscoveryFaults({ status: 404 });
      await expect(httpDiscoveryFetcher({ ...discoveryRequest(issuer), only: 'oidc' })).rejects.toMatchObject({ kind: 'discovery', status: 404 });
      expect(issuer.discoveryRequestCount).toBe(1);
      const again = await httpDiscoveryFetcher({ ...discoveryRequest(issuer), only: 'rfc8414' });
      expect(again).toMatchObject({ document: 'rfc8414', documentUri: `${origin(issuer)}/.well-known/oauth-authorization-server` });
      expect(issuer.discoveryRequestCount).toBe(2);
    });

    it('tries it when the OIDC document answers 410 Gone', async () => {
      const issuer = await start({ discovery: 'both' });
      issuer.queueDiscoveryFaults({ status: 410 });
      const result = await httpDiscoveryFetcher(discoveryRequest(issuer));
      expect(result.documentUri).toBe(`${origin(issuer)}/.well-known/oauth-authorization-server`);
      expect(issuer.discoveryRequestCount).toBe(2);
    });

    it.each<[string, number]>([
      ['a 500 (an outage)', 500],
      ['a 503 (an outage)', 503],
      ['a 403', 403],
    ])('does not try it after %s: the first failure is the error', async (_name, status) => {
      const issuer = await start({ discovery: 'both' });
      issuer.queueDiscoveryFaults({ status, body: '<html>secret upstream page</html>', headers: { 'content-type': 'text/html' } });
      const err = await refusal(discoveryRequest(issuer));
      expect(err).toMatchObject({ kind: 'status', status });
      expect(err.message).toContain(`answered ${status}`);
      expect(err.message).toContain('content-type text/html');
      expect(err.message).not.toMatch(/secret|<html/);
      expect(issuer.discoveryRequestCount).toBe(1);
    });

    it('does not try it after a 429, and carries the Retry-After', async () => {
      const issuer = await start({ discovery: 'both' });
      issuer.queueDiscoveryFaults({ status: 429, headers: { 'retry-after': '120' } });
      const err = await refusal(discoveryRequest(issuer));
      expect(err).toMatchObject({ kind: 'status', status: 429, retryAfterMs: 120_000 });
      expect(issuer.discoveryRequestCount).toBe(1);
    });

    it('carries x-ratelimit-reset (Auth0) too', async () => {
      const issuer = await start();
      const now = Date.now();
      issuer.setDiscoveryFault({ status: 429, headers: { 'x-ratelimit-reset': String(Math.floor(now / 1000) + 60) } });
      const err = await refusal(discoveryRequest(issuer, { now }));
      expect(err.retryAfterMs).toBeGreaterThan(58_000);
      expect(err.retryAfterMs).toBeLessThanOrEqual(60_000);
    });

    it('does not try it after a timeout', async () => {
      const issuer = await start({ discovery: 'both' });
      issuer.queueDiscoveryFaults({ delayMs: 5_000 });
      const err = await refusal(discoveryRequest(issuer, { timeoutMs: 100 }));
      expect(err.kind).toBe('timeout');
      expect(issuer.discoveryRequestCount).toBe(1);
    });

    it('names both paths in one error when neither document exists', async () => {
      const issuer = await start({ path: '/realms/a', discovery: 'none' });
      const err = await refusal(discoveryRequest(issuer));
      expect(err).toMatchObject({ kind: 'discovery', status: 404 });
      expect(err.message).toContain('/realms/a/.well-known/openid-configuration');
      expect(err.message).toContain('/.well-known/oauth-authorization-server/realms/a');
      expect(issuer.discoveryRequestCount).toBe(2);
    });

    it('spends one timeout over both requests, not one each', async () => {
      const issuer = await start({ discovery: 'both' });
      issuer.queueDiscoveryFaults({ status: 404, delayMs: 300 }, { delayMs: 5_000 });
      const started = performance.now();
      const err = await refusal(discoveryRequest(issuer, { timeoutMs: 500 }));
      const elapsed = performance.now() - started;
      expect(err.kind).toBe('timeout');
      expect(issuer.discoveryRequestCount).toBe(2);
      expect(elapsed).toBeLessThan(700); // about 500 ms in all; a timeout per request would be 800+
    });
  });

  describe('refusing the HTTP exchange', () => {
    it('refuses a redirect without following it, and does not fall back', async () => {
      const issuer = await start({ discovery: 'both' });
      const other = await start();
      issuer.queueDiscoveryFaults({ status: 302, headers: { location: `${origin(other)}/.well-known/openid-configuration` } });
      const err = await refusal(discoveryRequest(issuer));
      expect(err).toMatchObject({ kind: 'redirect', status: 302 });
      expect(err.message).toMatch(/redirects are not followed/);
      expect(other.discoveryRequestCount).toBe(0);
      expect(issuer.discoveryRequestCount).toBe(1);
    });

    it('refuses an HTML page served with 200 as a content-type failure, quoting none of it', async () => {
      const issuer = await start();
      issuer.setDiscoveryFault({ body: '<html><body>Login at secret.example</body></html>', headers: { 'content-type': 'text/html; charset=UTF-8' } });
      const err = await refusal(discoveryRequest(issuer));
      expect(err).toMatchObject({ kind: 'content-type', status: 200 });
      expect(err.message).toContain('content-type text/html');
      expect(err.message).not.toMatch(/Login|secret|charset|<html/i);
    });

    it('refuses a body served as JSON that is not JSON as a parse failure', async () => {
      const issuer = await start();
      issuer.setDiscoveryFault({ body: '{"issuer": "secret' });
      const err = await refusal(discoveryRequest(issuer));
      expect(err).toMatchObject({ kind: 'parse', status: 200 });
      expect(err.message).toMatch(/not JSON/);
      expect(err.message).not.toContain('secret');
    });

    it('refuses an oversized document, buffered or streamed', async () => {
      const issuer = await start();
      issuer.setDiscoveryFault({ body: { ...issuer.discoveryDocument(), padding: 'x'.repeat(8 * 1024) } });
      expect(await refusal(discoveryRequest(issuer, { maxResponseBytes: 4 * 1024 }))).toMatchObject({ kind: 'too-large' });
      issuer.setDiscoveryFault({ endless: true });
      const err = await refusal(discoveryRequest(issuer, { maxResponseBytes: 4 * 1024 }));
      expect(err.kind).toBe('too-large');
      expect(err.message).toMatch(/4096-byte cap/);
    });

    it('times out a slow document within the timeout', async () => {
      const issuer = await start();
      issuer.setDiscoveryFault({ delayMs: 5_000 });
      const started = performance.now();
      const err = await refusal(discoveryRequest(issuer, { timeoutMs: 150 }));
      expect(err.kind).toBe('timeout');
      expect(err.message).toMatch(/timed out after 150 ms/);
      expect(performance.now() - started).toBeLessThan(1_000);
    });

    it('times out a trickling body within the same timeout', async () => {
      const issuer = await start();
      issuer.setDiscoveryFault({ trickle: true, trickleMs: 20 });
      const err = await refusal(discoveryRequest(issuer, { timeoutMs: 200 }));
      expect(err.kind).toBe('timeout');
    });

    it('ends at once when the caller’s signal aborts, saying it was cancelled', async () => {
      const issuer = await start();
      issuer.setDiscoveryFault({ delayMs: 60_000 });
      const abort = new AbortController();
      const pending = refusal(discoveryRequest(issuer, { timeoutMs: 60_000, signal: abort.signal }));
      while (issuer.discoveryRequestCount === 0) await new Promise((r) => setTimeout(r, 5));
      abort.abort();
      const err = await pending; // without the signal this would hang for the 60-s timeout
      expect(err.message).toMatch(/cancelled/);
    });

    it('does not even start when the signal is already aborted', async () => {
      const issuer = await start();
      const abort = new AbortController();
      abort.abort();
      const err = await refusal(discoveryRequest(issuer, { signal: abort.signal }));
      expect(err.message).toMatch(/cancelled/);
    });
  });

  describe('checking the document', () => {
    it.each<[string, unknown]>([
      ['an array', [{ issuer: 'x' }]],
      ['a string', '"https://idp.example/"'],
      ['null', 'null'],
    ])('refuses JSON that is not an object: %s', async (_name, body) => {
      const issuer = await start();
      issuer.setDiscoveryFault({ body });
      const err = await refusal(discoveryRequest(issuer));
      expect(err.kind).toBe('discovery');
      expect(err.message).toMatch(/not a JSON object/);
    });

    it('refuses a document without an issuer', async () => {
      const issuer = await start();
      const { issuer: _dropped, ...doc } = issuer.discoveryDocument();
      issuer.setDiscoveryFault({ body: doc });
      const err = await refusal(discoveryRequest(issuer));
      expect(err.kind).toBe('discovery');
      expect(err.message).toMatch(/no "issuer"/);
    });

    it('refuses a document whose issuer is another one, quoting both briefly', async () => {
      const issuer = await start();
      issuer.setDiscoveryFault({ body: { ...issuer.discoveryDocument(), issuer: 'https://evil.example/' } });
      const err = await refusal(discoveryRequest(issuer));
      expect(err.kind).toBe('discovery');
      expect(err.message).toMatch(/issuer .*does not equal the configured/);
      expect(err.message).toContain('"https://evil.example/"');
      expect(err.message).toContain(JSON.stringify(issuer.issuer));
    });

    it('refuses an issuer differing only by a trailing slash, and says so', async () => {
      const issuer = await start({ path: '/realms/a' });
      issuer.setDiscoveryFault({ body: { ...issuer.discoveryDocument(), issuer: `${issuer.issuer}/` } });
      const err = await refusal(discoveryRequest(issuer));
      expect(err.kind).toBe('discovery');
      expect(err.message).toMatch(/trailing slash/);
    });

    it('refuses when the configured issuer lacks the slash the document’s issuer has', async () => {
      const issuer = await start(); // issues tokens as http://127.0.0.1:port/
      const err = await refusal(discoveryRequest(issuer, { issuer: issuer.issuer.replace(/\/$/, '') }));
      expect(err.kind).toBe('discovery');
      expect(err.message).toMatch(/trailing slash/);
    });

    it('quotes a hostile issuer value only short and printable', async () => {
      const issuer = await start();
      issuer.setDiscoveryFault({ body: { ...issuer.discoveryDocument(), issuer: `https://evil.example/\u001b[31m\n${'A'.repeat(5_000)}TAIL` } });
      const err = await refusal(discoveryRequest(issuer));
      expect(err.message).toMatch(/^[\x20-\x7e]*$/); // printable ASCII only: no escape sequence reaches a log
      expect(err.message).not.toContain('TAIL');
      expect(err.message.length).toBeLessThan(400);
    });

    it.each<[string, unknown, RegExp]>([
      ['missing', undefined, /no "jwks_uri"/],
      ['not a string', 42, /jwks_uri is not a string/],
      ['not a URL', 'keys.json', /jwks_uri is not a URL/],
      ['relative', '/.well-known/jwks.json', /jwks_uri is not a URL/],
      ['javascript:', 'javascript:alert(1)', /jwks_uri must use https:/],
      ['file:', 'file:///etc/passwd', /jwks_uri must use https:/],
    ])('refuses a jwks_uri that is %s', async (_name, jwksUri, message) => {
      const issuer = await start();
      issuer.setDiscoveryFault({ body: { ...issuer.discoveryDocument(), jwks_uri: jwksUri } });
      const err = await refusal(discoveryRequest(issuer));
      expect(err.kind).toBe('discovery');
      expect(err.message).toMatch(message);
    });

    it('refuses a jwks_uri carrying credentials, without quoting them', async () => {
      const issuer = await start();
      const withCredentials = issuer.jwksUri.replace('http://', 'http://keyuser:s3cret@');
      issuer.setDiscoveryFault({ body: { ...issuer.discoveryDocument(), jwks_uri: withCredentials } });
      const err = await refusal(discoveryRequest(issuer));
      expect(err.kind).toBe('discovery');
      expect(err.message).toMatch(/credentials/);
      expect(err.message).not.toMatch(/s3cret|keyuser/);
    });

    it('refuses a jwks_uri on another host (another port counts), then accepts it once allowed', async () => {
      const issuer = await start();
      const other = await start();
      issuer.setDiscoveryFault({ body: { ...issuer.discoveryDocument(), jwks_uri: other.jwksUri } });
      const err = await refusal(discoveryRequest(issuer));
      expect(err.kind).toBe('discovery');
      expect(err.message).toMatch(/allowedJwksHosts/);
      expect(err.message).toContain(hostOf(other));
      const result = await httpDiscoveryFetcher(discoveryRequest(issuer, { allowedJwksHosts: [hostOf(other)] }));
      expect(result.jwksUri).toBe(other.jwksUri);
    });

    it('compares hosts case-insensitively and whole: no suffix, prefix or port games', async () => {
      const issuer = await start();
      const allowed = { allowedJwksHosts: ['keys.example.net'] };
      issuer.setDiscoveryFault({ body: { ...issuer.discoveryDocument(), jwks_uri: 'https://Keys.Example.NET/jwks.json' } });
      expect((await httpDiscoveryFetcher(discoveryRequest(issuer, allowed))).jwksUri).toBe('https://Keys.Example.NET/jwks.json');
      expect((await httpDiscoveryFetcher(discoveryRequest(issuer, { allowedJwksHosts: ['KEYS.example.net:443'] }))).jwksUri).toBe('https://Keys.Example.NET/jwks.json');
      for (const foreign of [
        'https://keys.example.net.evil.test/jwks.json',
        'https://evil.keys.example.net/jwks.json',
        'https://keys.example.net:8443/jwks.json',
        'https://evil.test/keys.example.net/jwks.json',
        'https://keys.example.net@evil.test/jwks.json',
      ]) {
        issuer.setDiscoveryFault({ body: { ...issuer.discoveryDocument(), jwks_uri: foreign } });
        const err = await refusal(discoveryRequest(issuer, allowed));
        expect(err.kind).toBe('discovery');
      }
    });

    it('refuses plain http on a host that is not loopback, even an allowed one', async () => {
      const issuer = await start();
      issuer.setDiscoveryFault({ body: { ...issuer.discoveryDocument(), jwks_uri: 'http://keys.example.net/jwks.json' } });
      const err = await refusal(discoveryRequest(issuer, { allowedJwksHosts: ['keys.example.net'] }));
      expect(err.kind).toBe('discovery');
      expect(err.message).toMatch(/jwks_uri must use https:/);
    });
  });
});

describe('TestIssuer discovery documents', () => {
  let issuer: TestIssuer;
  afterEach(() => issuer.close());

  it('keeps today’s URLs without a path, and counts discovery apart from JWKS requests', async () => {
    issuer = await TestIssuer.start();
    const base = new URL(issuer.jwksUri).origin;
    expect(issuer.issuer).toBe(`${base}/`);
    expect(issuer.jwksUri).toBe(`${base}/.well-known/jwks.json`);
    expect(issuer.discoveryDocument()).toMatchObject({ issuer: issuer.issuer, jwks_uri: issuer.jwksUri, id_token_signing_alg_values_supported: ['RS256'] });
    const rfc = await fetch(`${base}/.well-known/oauth-authorization-server`);
    expect(rfc.status).toBe(404);
    const oidc = await fetch(`${base}/.well-known/openid-configuration`);
    expect(await oidc.json()).toEqual(issuer.discoveryDocument());
    expect(issuer.discoveryRequestCount).toBe(2);
    expect(issuer.requestCount).toBe(0);
  });

  it('serves both documents with discovery: both, and neither with none', async () => {
    issuer = await TestIssuer.start({ path: '/realms/a/', discovery: 'both' });
    const base = new URL(issuer.jwksUri).origin;
    expect(issuer.issuer).toBe(`${base}/realms/a`);
    expect((await fetch(`${base}/realms/a/.well-known/openid-configuration`)).status).toBe(200);
    expect((await fetch(`${base}/.well-known/oauth-authorization-server/realms/a`)).status).toBe(200);
    expect((await fetch(`${base}/.well-known/jwks.json`)).status).toBe(404); // the JWKS moved under the path
    await issuer.close();
    issuer = await TestIssuer.start({ discovery: 'none' });
    expect((await fetch(`${new URL(issuer.jwksUri).origin}/.well-known/openid-configuration`)).status).toBe(404);
  });

  it('setDiscoveryFault(null) clears the standing fault and the queue', async () => {
    issuer = await TestIssuer.start();
    const uri = `${new URL(issuer.jwksUri).origin}/.well-known/openid-configuration`;
    issuer.setDiscoveryFault({ status: 500 });
    issuer.queueDiscoveryFaults({ status: 502 });
    expect((await fetch(uri)).status).toBe(502);
    expect((await fetch(uri)).status).toBe(500);
    issuer.queueDiscoveryFaults({ status: 503 });
    issuer.setDiscoveryFault(null);
    expect((await fetch(uri)).status).toBe(200);
    expect((await fetch(issuer.jwksUri)).status).toBe(200); // JWKS faults are separate
  });
});
