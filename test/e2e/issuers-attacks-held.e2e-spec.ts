import { generateKeyPairSync, randomUUID, sign as nodeSign } from 'node:crypto';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Logger, type INestApplication, type LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import {
  JWKS_CLOCK,
  JWKS_EVENT_LISTENERS,
  JwksArgumentError,
  JwksAuthModule,
  JwksCacheService,
  JwtVerifier,
  httpDiscoveryFetcher,
  loggingListener,
  type JwksAuthEvent,
  type JwksAuthModuleOptions,
} from '../../lib';
import { FakeClock, TestIssuer, waitFor } from '../../lib/testing';
import { ProtectedController } from '../fixtures/protected.controller';
import { b64 } from '../fixtures/craft';

/**
 * Attacks that HELD on the reviewed code (base 5e44960). Every test passes; kept as regression
 * tests for the several-issuers work. Findings that did not hold are in attack-issuers.findings.
 */

/** Every line any logger got, any level. */
class CaptureLogger implements LoggerService {
  lines: string[] = [];
  private push = (level: string) => (message: unknown, ...rest: unknown[]) => {
    this.lines.push(`${level} ${String(message)} ${rest.map(String).join(' ')}`);
  };
  log = this.push('log');
  error = this.push('error');
  warn = this.push('warn');
  debug = this.push('debug');
  verbose = this.push('verbose');
  fatal = this.push('fatal');
}

interface Env {
  app: INestApplication;
  server: Server;
  cache: JwksCacheService;
  verifier: JwtVerifier;
  clock: FakeClock | null;
  events: JwksAuthEvent[];
}

async function boot(
  options: JwksAuthModuleOptions,
  opts: { clock?: FakeClock | null; logger?: CaptureLogger } = {},
): Promise<Env> {
  const clock = opts.clock === undefined ? new FakeClock() : opts.clock;
  const events: JwksAuthEvent[] = [];
  const logger = opts.logger;
  let builder = Test.createTestingModule({ imports: [JwksAuthModule.forRoot(options)], controllers: [ProtectedController] })
    .overrideProvider(JWKS_EVENT_LISTENERS)
    .useValue([(e: JwksAuthEvent) => events.push(e), ...(logger ? [loggingListener(new Logger('JwksAuth'))] : [])]);
  if (clock) builder = builder.overrideProvider(JWKS_CLOCK).useValue(clock);
  const moduleRef = await builder.compile();
  if (logger) Logger.overrideLogger(logger);
  const app = moduleRef.createNestApplication({ logger: logger ?? false });
  await app.init();
  await app.listen(0, '127.0.0.1');
  return { app, server: app.getHttpServer() as Server, cache: app.get(JwksCacheService), verifier: app.get(JwtVerifier), clock, events };
}

const get = (server: Server, token: string) => request(server).get('/me').set('Authorization', `Bearer ${token}`);
const nowSec = (clock: FakeClock | null) => Math.floor((clock ? clock.now() : Date.now()) / 1000);

/** A minimal HTTP host whose routes a test sets: path -> [status, body, headers?]. */
class Host {
  routes = new Map<string, () => { status: number; body?: string; headers?: Record<string, string> }>();
  hits: string[] = [];
  private server: HttpServer;
  base = '';
  constructor() {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const path = (req.url ?? '/').split('?')[0];
      this.hits.push(path);
      const route = this.routes.get(path);
      if (!route) {
        res.writeHead(404);
        res.end();
        return;
      }
      const { status, body, headers } = route();
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(body ?? '');
    });
  }
  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }
  json(path: string, body: unknown, status = 200, headers?: Record<string, string>): void {
    this.routes.set(path, () => ({ status, body: typeof body === 'string' ? body : JSON.stringify(body), headers }));
  }
  count(path: string): number {
    return this.hits.filter((h) => h === path).length;
  }
  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

// ---------------------------------------------------------------------------------------------
describe('H1 cross-tenant: keys, algorithms, typ, audience and caches never cross issuers', () => {
  let a: TestIssuer; // ES256 only, typ at+jwt
  let b: TestIssuer; // RS256 only, no typ
  let env: Env;

  beforeAll(async () => {
    // A's issuer has a non-ASCII character (NFC), so its NFD spelling is another string.
    a = await TestIssuer.start({ path: '/a', alg: 'ES256', audience: 'api-a', issuer: 'https://idp.example/tenant-\u00e9' });
    b = await TestIssuer.start({ path: '/b', alg: 'RS256', audience: 'api-b' });
    // Colliding kids both ways, and B publishing A's very own EC public key under A's kid.
    b.addKey({ kid: 'shared', alg: 'RS256' });
    a.addKey({ kid: 'shared', alg: 'ES256' });
    const aJwks = a.jwks().keys.find((k) => (k as { kid?: string }).kid === a.kid)!;
    (b as unknown as { keys: Map<string, unknown> }).keys.set(a.kid, { kid: a.kid, alg: 'ES256', privateKey: null, publicJwk: aJwks, published: true });
    env = await boot({
      issuers: [
        { issuer: a.issuer, jwksUri: a.jwksUri, audience: 'api-a', algorithms: ['ES256'], typ: 'at+jwt' },
        { issuer: b.issuer, jwksUri: b.jwksUri, audience: 'api-b', algorithms: ['RS256'] },
      ],
      verifiedTokenCache: true,
    });
  });
  afterAll(async () => {
    await env?.app.close();
    await Promise.all([a?.close(), b?.close()]);
  });

  const t = () => {
    const n = nowSec(env.clock);
    return { iat: n, exp: n + 300 };
  };

  it('serves each issuer its own tokens', async () => {
    await get(env.server, a.sign({ ...t() }, { header: { typ: 'at+jwt' } })).expect(200);
    await get(env.server, b.sign({ ...t() })).expect(200);
    // B's EC copy of A's key was refused when B's set was parsed (B allows RS256 only).
    expect(env.cache.getState(b.issuer).kids.sort()).toEqual([b.kid, 'shared'].sort());
  });

  it("A's ES256 token re-addressed to B (same kid B publishes, same EC key B publishes) is refused", async () => {
    const before = env.verifier.refusalCounts();
    // Signed by A's key, header identical to A's genuine tokens (so the knownHeaders cache has it).
    await get(env.server, a.sign({ ...t(), iss: b.issuer, aud: 'api-b' }, { header: { typ: 'at+jwt' } })).expect(401);
    await get(env.server, a.sign({ ...t(), iss: b.issuer, aud: 'api-b' }, { kid: 'shared', header: { typ: 'at+jwt' } })).expect(401);
    // B's RS256 token under the colliding kid, re-addressed to A (A allows ES256 only).
    await get(env.server, b.sign({ ...t(), iss: a.issuer, aud: 'api-a' }, { kid: 'shared', header: { typ: 'at+jwt' } })).expect(401);
    const after = env.verifier.refusalCounts();
    expect((after.ERR_JWT_ALG_NOT_ALLOWED ?? 0) - (before.ERR_JWT_ALG_NOT_ALLOWED ?? 0)).toBe(3);
  });

  it("A's typ rule and audience are A's own: B's tokens need no typ, A's cannot skip it", async () => {
    await get(env.server, a.sign({ ...t() }, { header: { typ: 'JWT' } })).expect(401);
    await get(env.server, a.sign({ ...t() }, { header: { typ: undefined } })).expect(401);
    await get(env.server, b.sign({ ...t() }, { header: { typ: 'at+jwt' } })).expect(200);
    await get(env.server, b.sign({ ...t(), aud: 'api-a' })).expect(401);
    await get(env.server, a.sign({ ...t(), aud: 'api-b' }, { header: { typ: 'at+jwt' } })).expect(401);
  });

  it('near-miss iss values (unicode forms, zero-width, fullwidth, bidi, NBSP) route nowhere and fetch nothing', async () => {
    const before = [a.requestCount, b.requestCount];
    const variants = [
      a.issuer.normalize('NFD'),
      encodeURI(a.issuer),
      a.issuer.replace('idp.example', 'idp.ex\u0430mple'), // Cyrillic a
      a.issuer.replace('idp', '\uFF49\uFF44\uFF50'), // fullwidth
      a.issuer.replace('idp.example', 'xn--idp-example'),
      `${a.issuer}\u200B`,
      `\u202E${a.issuer}`,
      `${a.issuer}\u00A0`,
      `${a.issuer}\t`,
      a.issuer.replace('http', 'HTTP'),
      a.issuer.replace('https', 'http'),
      a.issuer.replace('idp.example', 'idp.example.'),
      a.issuer.replace('idp.example', 'idp.example:443'),
      `${a.issuer}/.`,
      `${a.issuer}%2F`,
    ];
    for (const iss of variants) {
      await get(env.server, a.sign({ ...t(), iss }, { header: { typ: 'at+jwt' } })).expect(401);
      await get(env.server, a.sign({ ...t(), iss }, { header: { kid: randomUUID(), typ: 'at+jwt' } })).expect(401);
    }
    expect([a.requestCount, b.requestCount]).toEqual(before);
  });

  it("after removeIssuer(A), A's cached tokens and A's header (still in knownHeaders) do not pass as B; re-adding A with another audience re-checks cached tokens", async () => {
    const tok = a.sign({ ...t() }, { header: { typ: 'at+jwt' } });
    await get(env.server, tok).expect(200);
    await get(env.server, tok).expect(200); // now a verified-token cache hit
    expect(env.verifier.verifiedTokenCacheStats().hits).toBeGreaterThan(0);
    await env.cache.removeIssuer(a.issuer);
    await get(env.server, tok).expect(401);
    // B is alone now: the router's union is B's [RS256]; A's ES256 header bytes skip the header
    // parse (knownHeaders). B even publishes A's EC key under A's kid - but parsed for RS256 only.
    await get(env.server, a.sign({ ...t(), iss: b.issuer, aud: 'api-b' }, { header: { typ: 'at+jwt' } })).expect(401);
    await env.cache.addIssuer({ issuer: a.issuer, jwksUri: a.jwksUri, audience: 'another-api', algorithms: ['ES256'], typ: 'at+jwt' });
    await get(env.server, tok).expect(401);
  });
});

// ---------------------------------------------------------------------------------------------
describe('H2 discovery: issuer and jwks_uri checks (real documents on 127.0.0.1)', () => {
  let host: Host;
  let other: Host;
  beforeAll(async () => {
    host = await new Host().start();
    other = await new Host().start();
  });
  afterAll(async () => {
    await Promise.all([host?.close(), other?.close()]);
  });

  const discover = (issuer: string, allowedJwksHosts: string[] = [], timeoutMs = 2_000, maxResponseBytes = 512 * 1024) =>
    httpDiscoveryFetcher({ issuer, timeoutMs, maxResponseBytes, allowedJwksHosts, now: Date.now() });

  function serveDoc(path: string, doc: unknown, headers?: Record<string, string>) {
    host.json(`${path}/.well-known/openid-configuration`, doc, 200, headers);
  }

  it('refuses issuer mismatches: trailing slash, case, unicode forms, whitespace, non-strings, duplicate keys (first wins elsewhere)', async () => {
    const issuer = `${host.base}/t1`;
    const bad: unknown[] = [
      `${issuer}/`, issuer.toUpperCase(), issuer.replace('t1', 't\u0031\u0301'), ` ${issuer}`, `${issuer} `, `${issuer}\u0000`,
      [issuer], { issuer }, 1, null, true, issuer.normalize('NFKC') + '\u200B',
    ];
    for (const value of bad) {
      serveDoc('/t1', { issuer: value, jwks_uri: `${host.base}/keys` });
      await expect(discover(issuer)).rejects.toMatchObject({ kind: 'discovery' });
    }
    // Duplicate members: JSON.parse keeps the last. {"issuer":good,"issuer":evil} is refused...
    serveDoc('/t1', `{"issuer":${JSON.stringify(issuer)},"issuer":"https://evil.example","jwks_uri":"${host.base}/keys"}`);
    await expect(discover(issuer)).rejects.toMatchObject({ kind: 'discovery' });
    // ...and {"issuer":evil,"issuer":good} is accepted (last wins: worth knowing if a proxy validates with a first-wins parser).
    serveDoc('/t1', `{"issuer":"https://evil.example","issuer":${JSON.stringify(issuer)},"jwks_uri":"${host.base}/keys"}`);
    await expect(discover(issuer)).resolves.toMatchObject({ jwksUri: `${host.base}/keys` });
  });

  it('refuses jwks_uri host confusions; accepts only what WHATWG (and so fetch) resolves to the issuer host', async () => {
    const issuer = `${host.base}/t2`;
    const port = new URL(host.base).port;
    const refused = [
      `http://127.0.0.1:${port}@evil.example/keys`,
      `http://user:pw@127.0.0.1:${port}/keys`,
      `http://evil.example#@127.0.0.1:${port}/keys`,
      `http://evil.example\\@127.0.0.1:${port}/keys`,
      `http://localhost:${port}/keys`,
      `http://[::1]:${port}/keys`,
      `${other.base}/keys`,
      `http://127.0.0.2:${port}/keys`,
      `https://127.0.0.1:${port}.evil.example/keys`,
      `//evil.example/keys`,
      `/keys`,
      `file:///etc/passwd`,
      `data:application/json,{"keys":[]}`,
      `javascript:alert(1)`,
      `ftp://127.0.0.1:${port}/keys`,
      `ws://127.0.0.1:${port}/keys`,
      `http://127.0.0.1:${port}\u0000.evil/keys`,
      `http://xn--80ak6aa92e.com/keys`,
    ];
    for (const jwksUri of refused) {
      serveDoc('/t2', { issuer, jwks_uri: jwksUri });
      await expect(discover(issuer)).rejects.toMatchObject({ kind: 'discovery' });
    }
    // These are the issuer's own host once parsed (and fetch connects there): accepted, correctly.
    for (const jwksUri of [
      `HTTP://127.0.0.1:${port}/keys`,
      `http://127.0.0.1.:${port}/keys`,
      `http://2130706433:${port}/keys`,
      `http://127.0.0.1:${port}\\keys`,
      `http://127.0.0.1:${port}/keys?x=@evil.example`,
    ]) {
      serveDoc('/t2', { issuer, jwks_uri: jwksUri });
      const found = await discover(issuer);
      expect(new URL(found.jwksUri).host).toBe(`127.0.0.1:${port}`);
    }
  });

  it('allowedJwksHosts matches host:port exactly, never a suffix, prefix or path', async () => {
    const issuer = `${host.base}/t3`;
    const otherHost = new URL(other.base).host;
    const otherPort = new URL(other.base).port;
    serveDoc('/t3', { issuer, jwks_uri: `${other.base}/keys` });
    await expect(discover(issuer, [otherHost])).resolves.toBeTruthy();
    await expect(discover(issuer, ['127.0.0.1'])).rejects.toMatchObject({ kind: 'discovery' }); // port missing
    await expect(discover(issuer, [`127.0.0.1:${Number(otherPort) + 1}`])).rejects.toMatchObject({ kind: 'discovery' });
    await expect(discover(issuer, [`127.0.0.1:${otherPort}/keys`])).rejects.toMatchObject({ kind: 'discovery' });
    await expect(discover(issuer, [`x@127.0.0.1:${otherPort}`])).rejects.toMatchObject({ kind: 'discovery' });
    await expect(discover(issuer, [`127.0.0.1:${otherPort}\\`])).rejects.toMatchObject({ kind: 'discovery' });
  });

  it('never follows redirects; refuses huge, endless and slow documents; survives JSON bombs; BOM ok; id_token algs ignored', async () => {
    const issuer = `${host.base}/t4`;
    const doc = `/t4/.well-known/openid-configuration`;
    host.json(doc, '', 302, { location: `${other.base}/doc` });
    await expect(discover(issuer)).rejects.toMatchObject({ kind: 'redirect' });
    expect(other.hits).not.toContain('/doc');
    host.json(doc, JSON.stringify({ issuer, jwks_uri: `${host.base}/k`, pad: 'x'.repeat(600 * 1024) }));
    await expect(discover(issuer)).rejects.toMatchObject({ kind: 'too-large' });
    // 500k-deep nesting within the cap: V8's JSON.parse is iterative; we only read two members.
    host.json(doc, `{"issuer":${JSON.stringify(issuer)},"jwks_uri":"${host.base}/k","x":${'['.repeat(200_000)}${']'.repeat(200_000)}}`);
    const started = performance.now();
    await expect(discover(issuer)).resolves.toMatchObject({ jwksUri: `${host.base}/k` });
    expect(performance.now() - started).toBeLessThan(1_000);
    // 25k members
    const many: Record<string, unknown> = { issuer, jwks_uri: `${host.base}/k` };
    for (let i = 0; i < 25_000; i++) many[`m${i}`] = i;
    host.json(doc, many);
    await expect(discover(issuer)).resolves.toBeTruthy();
    host.json(doc, `\uFEFF${JSON.stringify({ issuer, jwks_uri: `${host.base}/k`, id_token_signing_alg_values_supported: ['HS256', 'none'] })}`);
    await expect(discover(issuer)).resolves.toEqual(expect.objectContaining({ jwksUri: `${host.base}/k` }));
  });

  it('a trickling or endless document is abandoned within timeoutMs', async () => {
    const issuer = `${host.base}/t5`;
    const slow = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const t = setInterval(() => res.write(' '), 50);
      res.on('close', () => clearInterval(t));
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
    const started = performance.now();
    await expect(discover(`${base}/t5`, [], 400)).rejects.toMatchObject({ kind: 'timeout' });
    expect(performance.now() - started).toBeLessThan(1_000);
    slow.closeAllConnections();
    await new Promise<void>((r) => slow.close(() => r()));
    void issuer;
  });
});

// ---------------------------------------------------------------------------------------------
describe('H3 re-discovery never moves keys to a foreign host; storms stay bounded', () => {
  it('a document that later names a foreign jwks_uri is refused; the known one keeps serving', async () => {
    const idp = await TestIssuer.start({ path: '/realms/x' });
    const evil = await TestIssuer.start();
    const env = await boot({ issuers: [{ issuer: idp.issuer, audience: idp.audience }], warmupTimeoutMs: 1_000, fetch: { timeoutMs: 1_000 } });
    try {
      const n = () => nowSec(env.clock);
      await get(env.server, idp.sign({ iat: n(), exp: n() + 300 })).expect(200);
      idp.setDiscoveryFault({ body: { issuer: idp.issuer, jwks_uri: evil.jwksUri } });
      idp.moveJwks('/gone'); // 404 at the known location: forces re-discovery
      for (let i = 0; i < 20; i++) {
        await env.clock!.advance(60_000);
        await waitFor(() => !env.cache.getState(idp.issuer).fetching);
      }
      expect(evil.requestCount).toBe(0);
      await get(env.server, evil.sign({ iss: idp.issuer, aud: idp.audience, iat: n(), exp: n() + 300 })).expect(401);
    } finally {
      await env.app.close();
      await Promise.all([idp.close(), evil.close()]);
    }
  });

  async function countOver(env: Env, issuer: string, minutes: number, flood?: () => Promise<unknown>) {
    for (let s = 0; s < minutes * 60; s += 1) {
      await env.clock!.advance(1_000);
      if (flood) await flood();
      await waitFor(() => !env.cache.getState(issuer).fetching);
    }
  }

  it('requests per minute while the document is broken (500), with no key set and a flood of tokens', async () => {
    const idp = await TestIssuer.start({ path: '/realms/broken' });
    idp.setDiscoveryFault({ status: 500 });
    const env = await boot({ issuers: [{ issuer: idp.issuer, audience: idp.audience }], warmupTimeoutMs: 500, fetch: { timeoutMs: 500 } });
    try {
      idp.resetCounts();
      const n = () => nowSec(env.clock);
      await countOver(env, idp.issuer, 5, () =>
        Promise.all(Array.from({ length: 5 }, () => get(env.server, idp.sign({ iat: n(), exp: n() + 300 }, { header: { kid: randomUUID() } })))),
      );
      const perMinute = idp.discoveryRequestCount / 5;
      // eslint-disable-next-line no-console
      // No set held: retries at most 5 s apart with full jitter (README), ~24/min on average; the flood adds nothing.
      expect(perMinute).toBeLessThanOrEqual(30);
      expect(idp.requestCount).toBe(0);
    } finally {
      await env.app.close();
      await idp.close();
    }
  });

  it('requests per minute during a JWKS 404 loop that keeps triggering re-discovery (set held, and none held)', async () => {
    for (const held of [true, false]) {
      const idp = await TestIssuer.start({ path: '/realms/loop' });
      // No set held: the keys 404 from the very first fetch on.
      if (!held) idp.setFault({ status: 404 });
      const env = await boot({ issuers: [{ issuer: idp.issuer, audience: idp.audience }], warmupTimeoutMs: 500, fetch: { timeoutMs: 500 } });
      try {
        // The document keeps naming the same path; the keys answer 404 there, forever.
        idp.setFault({ status: 404 });
        idp.resetCounts();
        const n = () => nowSec(env.clock);
        const minutes = held ? 12 : 5;
        await countOver(env, idp.issuer, minutes, () => Promise.all(Array.from({ length: 5 }, () => get(env.server, idp.sign({ iat: n(), exp: n() + 300 }, { header: { kid: randomUUID() } })))));
        // eslint-disable-next-line no-console
        // Bounded by the backoff (5 s cap with no set, the 30-s cooldown with one), flood or not; but every
        // failing attempt costs the document AND the keys: a 404 re-reads the document each time.
        const cap = held ? 6 : 30;
        expect(idp.discoveryRequestCount / minutes).toBeLessThanOrEqual(cap);
        expect(idp.requestCount / minutes).toBeLessThanOrEqual(cap);
      } finally {
        await env.app.close();
        await idp.close();
      }
    }
  }, 120_000);
});

// ---------------------------------------------------------------------------------------------
describe('H4 add/remove races, timers and maxIssuers', () => {
  it('add/remove/add of one issuer, concurrently, ends with one working key set and no stray timers', async () => {
    const base = await TestIssuer.start({ path: '/base' });
    const x = await TestIssuer.start({ path: '/x' });
    const env = await boot({ issuers: [{ issuer: base.issuer, jwksUri: base.jwksUri }], audience: base.audience });
    try {
      const clock = env.clock!;
      const timersBefore = clock.pending().length;
      x.setFault({ delayMs: 300 });
      const results = await Promise.allSettled([
        env.cache.addIssuer({ issuer: x.issuer, jwksUri: x.jwksUri }),
        env.cache.removeIssuer(x.issuer),
        env.cache.addIssuer({ issuer: x.issuer, jwksUri: x.jwksUri }),
        env.cache.removeIssuer(x.issuer),
        env.cache.addIssuer({ issuer: x.issuer, jwksUri: x.jwksUri }),
      ]);
      // The first two adds were removed while warming (they say so); the last one serves.
      expect(results.map((r) => (r.status === 'fulfilled' ? (typeof r.value === 'boolean' ? r.value : r.value.phase) : (r.reason as Error).name))).toEqual([
        'JwksArgumentError',
        true,
        'JwksArgumentError',
        true,
        'fresh',
      ]);
      expect(env.cache.issuers()).toEqual([base.issuer, x.issuer]);
      x.clearFault();
      await waitFor(() => !env.cache.getState(x.issuer).fetching);
      const n = nowSec(clock);
      await get(env.server, x.sign({ iat: n, exp: n + 300 })).expect(200);
      // One background timer per live key set: base's and x's.
      expect(clock.pending().length).toBe(timersBefore + 1);
      await env.cache.removeIssuer(x.issuer);
      expect(clock.pending().length).toBe(timersBefore);
    } finally {
      await env.app.close();
      await Promise.all([base.close(), x.close()]);
    }
  });

  it('remove during warm-up of a hanging IdP: no fetch continues, no timer or socket left (real clock)', async () => {
    const base = await TestIssuer.start({ path: '/base' });
    const hang = await TestIssuer.start({ path: '/hang' });
    hang.setFault({ delayMs: 30_000 });
    const env = await boot({ issuers: [{ issuer: base.issuer, jwksUri: base.jwksUri }], audience: base.audience, warmupTimeoutMs: 5_000, fetch: { timeoutMs: 20_000 } }, { clock: null });
    try {
      (global as { gc?: () => void }).gc?.();
      const resources = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'TCPSocketWrap').length;
      await new Promise((r) => setTimeout(r, 100));
      const before = resources();
      const adding = env.cache.addIssuer({ issuer: hang.issuer, jwksUri: hang.jwksUri });
      await waitFor(() => hang.requestCount === 1);
      const started = Date.now();
      expect(await env.cache.removeIssuer(hang.issuer)).toBe(true);
      // addIssuer() rejects: the issuer was removed while it was being added.
      await expect(adding).rejects.toThrow('was removed while it was being added');
      expect(Date.now() - started).toBeLessThan(1_000);
      // undici closes the aborted request's socket lazily (within its keep-alive timeout, ~4 s).
      const conns = (i: TestIssuer) => new Promise<number>((r) => (i as unknown as { server: HttpServer }).server.getConnections((_e, n) => r(n)));
      const deadline = Date.now() + 8_000;
      while ((await conns(hang)) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(await conns(hang)).toBe(0);
      expect(resources()).toBeLessThanOrEqual(before);
      expect(hang.requestCount).toBe(1);
    } finally {
      await env.app.close();
      await Promise.all([base.close(), hang.close()]);
    }
  });

  it('maxIssuers holds under 50 concurrent addIssuer() calls and against nested arrays at startup', async () => {
    const base = await TestIssuer.start({ path: '/base' });
    const env = await boot({ issuers: [{ issuer: base.issuer, jwksUri: base.jwksUri }], audience: base.audience, maxIssuers: 10 });
    try {
      const results = await Promise.allSettled(
        Array.from({ length: 50 }, (_, i) => env.cache.addIssuer({ issuer: `${base.issuer}/t${i}`, jwksUri: base.jwksUri })),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(9);
      expect(results.filter((r) => r.status === 'rejected' && r.reason instanceof JwksArgumentError)).toHaveLength(41);
      expect(env.cache.issuers()).toHaveLength(10);
    } finally {
      await env.app.close();
      await base.close();
    }
    const entry = (i: number) => ({ issuer: `https://t${i}.example/`, jwksUri: `https://t${i}.example/k` });
    const nested = [[entry(1), [entry(2), entry(3)]], [[entry(4)]]];
    const compile = async (opts: JwksAuthModuleOptions) => Test.createTestingModule({ imports: [JwksAuthModule.forRoot(opts)] }).compile();
    await expect(compile({ issuers: nested as never, audience: 'x', maxIssuers: 100 })).rejects.toThrow(/must be an object/);
    await expect(compile({ issuers: [[entry(1), entry(2)], [entry(3)]] as never, audience: 'x', maxIssuers: 2 })).rejects.toThrow(/more than maxIssuers/);
  });
});

// ---------------------------------------------------------------------------------------------
describe('H5 logs, errors, health and events carry no token, raw kid, secret or control characters', () => {
  it('under hostile iss/kid floods and hostile discovery documents', async () => {
    const capture = new CaptureLogger();
    const good = await TestIssuer.start({ path: '/good' });
    const docHost = await new Host().start();
    const hostileIssuer = `${docHost.base}/hostile`;
    docHost.json('/hostile/.well-known/openid-configuration', {
      issuer: `\u001b[31mFAKE-ALERT\u001b[0m\r\nERROR forged line ${'A'.repeat(500)}`,
      jwks_uri: 'https://attacker:SECRETPASS@evil.example/keys?token=SECRETQUERY',
    });
    const secretJwks = `${good.jwksUri}?sig=SECRETSIG`;
    const env = await boot(
      {
        issuers: [
          { issuer: good.issuer, jwksUri: secretJwks, audience: good.audience },
          { issuer: hostileIssuer, audience: good.audience },
        ],
        warmupTimeoutMs: 1_000,
        fetch: { timeoutMs: 1_000 },
      },
      { logger: capture },
    );
    try {
      const n = () => nowSec(env.clock);
      const tokens: string[] = [];
      for (let i = 0; i < 150; i++) {
        tokens.push(good.sign({ iss: `evil\r\nINJECTED-${i}\u001b[2J`, iat: n(), exp: n() + 300 }));
        tokens.push(good.sign({ iat: n(), exp: n() + 300 }, { header: { kid: `RAWKID-${i}` } }));
      }
      for (const tok of tokens) await get(env.server, tok).expect(401);
      await env.clock!.advance(120_000);
      await waitFor(() => Object.values(env.cache.getStates()).every((s) => !s.fetching));
      await get(env.server, good.sign({ iat: n(), exp: n() + 300 }, { header: { kid: 'RAWKID-after' } })).expect(401);

      const text = [
        ...capture.lines,
        JSON.stringify(env.cache.getStates()),
        JSON.stringify(env.events),
      ].join('\n');
      for (const forbidden of ['SECRETPASS', 'SECRETQUERY', 'SECRETSIG', 'INJECTED', 'RAWKID', '\u001b', tokens[0].split('.')[1]]) {
        expect(text).not.toContain(forbidden);
      }
      // What does reach health/logs from the hostile document: its issuer text, printable and cut at 100 chars.
      const lastError = env.cache.getState(hostileIssuer).lastError?.message ?? '';
      // eslint-disable-next-line no-console
      expect(lastError).toContain('FAKE-ALERT');
      // No control characters (CR, LF, ESC) reach a log line or a health body.
      expect([...lastError].some((c) => c === '\r' || c === '\n' || c.charCodeAt(0) === 0x1b)).toBe(false);
    } finally {
      Logger.overrideLogger(false);
      await env.app.close();
      await Promise.all([good.close(), docHost.close()]);
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe('H6 unknown-iss refusal cost with many issuers (describe() copies every issuer per refusal)', () => {
  it('measures µs per unknown-iss refusal with 1 and 5,000 issuers', async () => {
    const { IssuerRegistry } = await import('../../lib/issuers/issuer.registry');
    const { resolveJwksOptions } = await import('../../lib/options/options.validator');
    const { MemoryKeySetStore } = await import('../../lib/store/memory-key-set.store');
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const n = Math.floor(Date.now() / 1000);
    const header = b64({ alg: 'RS256', kid: 'k' });
    const tokens = Array.from({ length: 2_000 }, (_, i) => {
      const input = `${header}.${b64({ iss: `https://unknown-${i}.example/`, aud: 'x', exp: n + 300 })}`;
      return `${input}.${nodeSign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
    });
    const perRefusal: Record<number, number> = {};
    for (const count of [1, 5_000]) {
      const options = resolveJwksOptions({
        issuers: Array.from({ length: count }, (_, i) => ({ issuer: `https://tenant-${i}.example/`, jwksUri: `https://tenant-${i}.example/k` })),
        audience: 'x',
        maxIssuers: 10_000,
      });
      const registry = new IssuerRegistry({
        options,
        clock: new FakeClock(),
        fetcher: async () => ({ kind: 'ok', jwks: '{"keys":[]}', etag: null }),
        discover: async () => ({ jwksUri: 'x', documentUri: 'x' }),
        store: new MemoryKeySetStore(),
        listeners: [],
      });
      const verifier = new JwtVerifier(options, registry, new FakeClock());
      for (const tok of tokens.slice(0, 200)) expect(() => verifier.verifyOrDefer(tok)).toThrow();
      const started = performance.now();
      for (const tok of tokens) {
        try {
          verifier.verifyOrDefer(tok);
        } catch {
          // refused
        }
      }
      perRefusal[count] = ((performance.now() - started) * 1000) / tokens.length;
      await registry.close();
    }
    // eslint-disable-next-line no-console
    expect(perRefusal[5_000]).toBeGreaterThan(0);
  });
});

// ---------------------------------------------------------------------------------------------
describe('H7 presets: hostile identifiers are refused or stay inside their path segment', () => {
  // Imported lazily so this block reads on its own.
  let presets: typeof import('../../lib/issuers/issuer.presets');
  beforeAll(async () => {
    presets = await import('../../lib/issuers/issuer.presets');
  });

  it('auth0/okta domain: paths, ports, userinfo, backslashes, schemes, IDN, trailing dots, whitespace are refused', () => {
    const bad = [
      'tenant.auth0.com/evil', 'tenant.auth0.com:8443', 'evil@tenant.auth0.com', 'tenant.auth0.com@evil.example', 'evil.example\\@tenant.auth0.com',
      'http://tenant.auth0.com', 'javascript://tenant.auth0.com', 'tenant.auth0.com.', ' tenant.auth0.com', 'tenant.auth0.com\n', 'tënant.auth0.com',
      'tenant.auth0.com?x', 'tenant.auth0.com#x', 'tenant..auth0.com', '-tenant.auth0.com', 'localhost', '[::1]', 'https://tenant.auth0.com/oauth2/default',
      'tenant.auth0.com%2fevil', 'tenant%2eauth0.com',
    ];
    for (const domain of bad) {
      expect(() => presets.auth0Issuer({ domain, audience: 'x' })).toThrow();
      expect(() => presets.oktaIssuer({ domain })).toThrow();
    }
  });

  it('okta authorizationServerId, entra tenants/appId, cognito pool/region/client ids: traversal and aliases refused', () => {
    for (const id of ['../default', 'default/../../x', 'default?x=1', 'default#', 'a/b', '%2e%2e', '', ' default', 'default\n']) {
      expect(() => presets.oktaIssuer({ domain: 'dev-1.okta.com', authorizationServerId: id, audience: 'x' })).toThrow();
    }
    for (const tenant of ['common', 'organizations', 'consumers', 'COMMON', '../common', 'contoso.onmicrosoft.com', '72f988bf-86f1-41af-91ab-2d7cd011db47/../common', '72f988bf86f141af91ab2d7cd011db47']) {
      expect(() => presets.entraIssuers({ tenantId: tenant, audience: 'x' })).toThrow();
    }
    expect(() => presets.entraIssuers({ tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47', audience: 'x', appId: 'x&evil=1' })).toThrow();
    for (const userPoolId of ['eu-west-1_Ab/../x', 'eu-west-1_Ab?x', 'eu-west-1.evil.example/x_Ab', 'evil.example_Ab', 'eu-west-1_', 'EU-WEST-1_Ab']) {
      expect(() => presets.cognitoIssuer({ userPoolId, clientId: 'c' })).toThrow();
    }
    expect(() => presets.cognitoIssuer({ userPoolId: 'eu-west-1_Ab', region: 'us-east-1', clientId: 'c' })).toThrow();
  });

  it('keycloak realm: "/", "?", "#", "%", ".." stay inside the one segment; baseUrl with /realms, query, creds, http refused', () => {
    const built = (realm: string) => presets.keycloakIssuer({ baseUrl: 'https://kc.example.com', realm, audience: 'x' });
    for (const [realm, path] of [
      ['../master', '/realms/..%2Fmaster'],
      ['a/../../admin', '/realms/a%2F..%2F..%2Fadmin'],
      ['%2e%2e', '/realms/%252e%252e'],
      ['a?x=1#y', '/realms/a%3Fx=1%23y'],
      ['a\\..\\b', '/realms/a%5C..%5Cb'],
    ] as const) {
      const { issuer, jwksUri } = built(realm);
      expect(new URL(issuer).host).toBe('kc.example.com');
      expect(new URL(issuer).pathname).toBe(path);
      expect(new URL(jwksUri!).pathname).toBe(`${path}/protocol/openid-connect/certs`);
    }
    for (const realm of ['.', '..', '']) expect(() => built(realm)).toThrow();
    for (const baseUrl of ['https://kc.example.com/realms/acme', 'https://kc.example.com/x/%2e%2e/realms', 'https://u:p@kc.example.com', 'http://kc.example.com', 'https://kc.example.com?x=1', 'kc.example.com']) {
      expect(() => presets.keycloakIssuer({ baseUrl, realm: 'a', audience: 'x' })).toThrow();
    }
  });
});
