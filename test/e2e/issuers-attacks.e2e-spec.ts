import { type INestApplication } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import request from 'supertest';
import {
  JwksArgumentError,
  JWKS_EVENT_LISTENERS,
  JWKS_FETCHER,
  JWKS_STORE,
  JwksAuthModule,
  JwksCacheService,
  JwksOptionsError,
  JwtVerifier,
  MemoryKeySetStore,
  auth0Issuer,
  keycloakIssuer,
  oktaIssuer,
  type JwksAuthEvent,
  type JwksAuthModuleOptions,
  type JwksFetcher,
} from '../../lib';
import { httpJwksFetcher } from '../../lib/fetch/jwks.fetcher';
import { FakeClock, TestIssuer, waitFor } from '../../lib/testing';
import { bootApp } from '../fixtures/app';
import { ProtectedController } from '../fixtures/protected.controller';
import { IssuersHealthController } from '../fixtures/health.controller';

/**
 * Attack findings against several issuers / discovery / presets / runtime add-remove.
 * Every test here asserts the secure behaviour, and failed on the code as it was before the fixes
 * of that review. Each names its finding (F1, F2, ...) as the review's report did.
 */

interface Booted {
  app: INestApplication;
  server: Server;
  cache: JwksCacheService;
  verifier: JwtVerifier;
  clock: FakeClock;
}

async function boot(options: JwksAuthModuleOptions): Promise<Booted> {
  const clock = new FakeClock();
  const app = await bootApp(
    {
      imports: [TerminusModule, JwksAuthModule.forRoot(options)],
      controllers: [ProtectedController, IssuersHealthController],
    },
    { clock },
  );
  await app.listen(0, '127.0.0.1');
  return { app, server: app.getHttpServer() as Server, cache: app.get(JwksCacheService), verifier: app.get(JwtVerifier), clock };
}

const get = (server: Server, token: string) => request(server).get('/me').set('Authorization', `Bearer ${token}`);

describe('F1: a token of a removed issuer still verifies when it was waiting on a revalidation', () => {
  let a: TestIssuer;
  let b: TestIssuer;
  let env: Booted;

  beforeAll(async () => {
    [a, b] = await Promise.all([TestIssuer.start({ path: '/tenant-a' }), TestIssuer.start({ path: '/tenant-b' })]);
    env = await boot({
      issuers: [
        { issuer: a.issuer, jwksUri: a.jwksUri },
        { issuer: b.issuer, jwksUri: b.jwksUri },
      ],
      audience: a.audience,
      // Long enough that the request is still waiting for the revalidation when the issuer is removed.
      cache: { maxWaitMs: 10_000 },
      fetch: { timeoutMs: 10_000 },
    });
  });
  afterAll(async () => {
    await env?.app.close();
    await Promise.all([a?.close(), b?.close()]);
  });

  it('refuses (401) a request of tenant A that was in flight when removeIssuer(A) resolved', async () => {
    // Sanity: A's token passes before anything happens.
    await get(env.server, a.sign({ sub: 'before' })).expect(200);

    // The operator suspects tenant A: re-check its keys, then offboard it. A's IdP is slow to answer.
    a.setFault({ delayMs: 1_500 });
    env.cache.invalidate(a.issuer);
    let answered = false;
    const pending = get(env.server, a.sign({ sub: 'in-flight-during-removal' })).then((r) => {
      answered = true;
      return r;
    });
    await waitFor(() => env.cache.getState(a.issuer).fetching);

    const removed = await env.cache.removeIssuer(a.issuer);
    expect(removed).toBe(true);
    expect(env.cache.issuers()).toEqual([b.issuer]);
    // Not answered yet when removeIssuer() resolved: whatever it gets now comes after the removal.
    expect(answered).toBe(false);
    // A fresh request with the same kind of token is refused, as documented.
    await get(env.server, a.sign({ sub: 'after-removal' })).expect(401);

    // README: "its tokens are refused at once". The request that was waiting is answered after
    // removal: it must not be let through.
    const res = await pending;
    expect(res.status).toBe(401);
  });
});

describe('F2: issuer-added / issuer-removed events are never emitted (README promises them)', () => {
  let a: TestIssuer;
  let b: TestIssuer;
  let app: INestApplication;
  const events: JwksAuthEvent[] = [];

  beforeAll(async () => {
    [a, b] = await Promise.all([TestIssuer.start({ path: '/a' }), TestIssuer.start({ path: '/b' })]);
    app = await bootApp({
      imports: [
        JwksAuthModule.forRoot({ issuers: [{ issuer: a.issuer, jwksUri: a.jwksUri }], audience: a.audience }),
      ],
    });
    void app;
  });
  afterAll(async () => {
    await app?.close();
    await Promise.all([a?.close(), b?.close()]);
  });

  it('delivers issuer-added and issuer-removed to JWKS_EVENT_LISTENERS, each with its issuer', async () => {
    // Rebuild with our listener (the module reads JWKS_EVENT_LISTENERS when it is provided).
    await app.close();
    const { Test } = await import('@nestjs/testing');
    const moduleRef = await Test.createTestingModule({
      imports: [JwksAuthModule.forRoot({ issuers: [{ issuer: a.issuer, jwksUri: a.jwksUri }], audience: a.audience })],
    })
      .overrideProvider(JWKS_EVENT_LISTENERS)
      .useValue([(e: JwksAuthEvent) => events.push(e)])
      .compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    const cache = app.get(JwksCacheService);

    await cache.addIssuer({ issuer: b.issuer, jwksUri: b.jwksUri });
    await cache.removeIssuer(b.issuer);

    const lifecycle = events.filter((e) => e.type === 'issuer-added' || e.type === 'issuer-removed').map((e) => [e.type, e.issuer]);
    expect(lifecycle).toEqual([
      ['issuer-added', b.issuer],
      ['issuer-removed', b.issuer],
    ]);
  });
});

describe('F3: getStates() and health are plain objects keyed by issuer: an issuer named "__proto__" vanishes', () => {
  let good: TestIssuer;
  let dead: TestIssuer;
  let env: Booted;

  beforeAll(async () => {
    [good, dead] = await Promise.all([TestIssuer.start({ path: '/good' }), TestIssuer.start({ path: '/dead' })]);
    // The "__proto__" tenant's IdP is down from the start.
    dead.setFault({ status: 500 });
    env = await boot({
      issuers: [
        { issuer: good.issuer, jwksUri: good.jwksUri },
        // Any string is a valid issuer once jwksUri is given (a tenant-chosen issuer in a BYO-IdP SaaS).
        { issuer: '__proto__', jwksUri: dead.jwksUri },
      ],
      audience: good.audience,
      warmupTimeoutMs: 1_000,
      fetch: { timeoutMs: 1_000 },
    });
  });
  afterAll(async () => {
    await env?.app.close();
    await Promise.all([good?.close(), dead?.close()]);
  });

  it('lists every configured issuer in getStates()', () => {
    expect(env.cache.issuers()).toEqual([good.issuer, '__proto__']);
    const states = env.cache.getStates();
    expect(Object.keys(states)).toEqual([good.issuer, '__proto__']);
  });

  it('reports health down while one of two issuers has no usable key set (require: all)', async () => {
    expect(env.cache.getState('__proto__').phase).toBe('empty');
    const res = await request(env.server).get('/health');
    // One issuer has no keys at all: "all" must be down (503), and count both issuers.
    expect(res.body.details?.jwks ?? res.body.error?.jwks).toMatchObject({ status: 'down', up: 1, down: 1 });
    expect(res.status).toBe(503);
  });
});

/** A bare discovery host: documents at both locations under our control, keys at two paths. */
class SharedHost {
  oidcStatus = 200;
  oidcDoc: () => unknown = () => ({});
  rfc8414Doc: () => unknown = () => ({});
  jwks: Record<string, unknown> = {};
  hits: string[] = [];
  private server: HttpServer;
  base = '';

  constructor() {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    this.hits.push(path);
    const send = (status: number, body?: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(body === undefined ? '' : JSON.stringify(body));
    };
    if (path.endsWith('/.well-known/openid-configuration')) return send(this.oidcStatus, this.oidcStatus === 200 ? this.oidcDoc() : undefined);
    if (path.startsWith('/.well-known/oauth-authorization-server/')) return send(200, this.rfc8414Doc());
    if (path in this.jwks) return send(200, this.jwks[path]);
    send(404);
  }
}

describe('F4: a 404 on the OIDC document (even after it has served) hands the choice of keys to whoever serves the RFC 8414 location on that host', () => {
  let host: SharedHost;
  let realIdp: TestIssuer;
  let rogue: TestIssuer;
  let env: Booted;
  let issuer: string;

  beforeAll(async () => {
    host = await new SharedHost().start();
    // Two key pairs: the realm's own, and one whoever controls the host's root /.well-known/ holds.
    realIdp = await TestIssuer.start();
    rogue = await TestIssuer.start();
    issuer = `${host.base}/auth/realms/acme`;
    host.jwks['/auth/realms/acme/protocol/openid-connect/certs'] = realIdp.jwks();
    host.jwks['/static/uploads/keys.json'] = rogue.jwks();
    host.oidcDoc = () => ({ issuer, jwks_uri: `${host.base}/auth/realms/acme/protocol/openid-connect/certs` });
    host.rfc8414Doc = () => ({ issuer, jwks_uri: `${host.base}/static/uploads/keys.json` });
    env = await boot({ issuers: [{ issuer, audience: 'api' }], warmupTimeoutMs: 1_000, fetch: { timeoutMs: 1_000 } });
  });
  afterAll(async () => {
    await env?.app.close();
    await Promise.all([host?.close(), realIdp?.close(), rogue?.close()]);
  });

  it('keeps using the OIDC-discovered jwks_uri (or fails) rather than switching document type on re-discovery', async () => {
    const real = realIdp.sign({ iss: issuer, aud: 'api' });
    await get(env.server, real).expect(200);

    // The reverse proxy in front of Keycloak briefly 404s the realm's OIDC document, and the keys
    // move (404) - e.g. during a maintenance window. The RFC 8414 location on the same host is
    // served by someone else (a CMS, a static bucket mounted at "/").
    host.oidcStatus = 404;
    delete host.jwks['/auth/realms/acme/protocol/openid-connect/certs'];
    await env.clock.advance(61 * 60_000); // past maxTtlMs: the document is read again
    await waitFor(() => !env.cache.getState(issuer).fetching);
    await env.clock.advance(60_000);
    await waitFor(() => !env.cache.getState(issuer).fetching);

    // Signed with the rogue key; times on the app's (fake) clock.
    const t = Math.floor(env.clock.now() / 1000);
    const forged = rogue.sign({ iss: issuer, aud: 'api', sub: 'admin', iat: t, exp: t + 300 });
    // Once the OIDC document has answered, only it is read again: the RFC 8414 location is never asked.
    expect(host.hits).toContain('/auth/realms/acme/.well-known/openid-configuration');
    expect(host.hits).not.toContain('/.well-known/oauth-authorization-server/auth/realms/acme');
    const res = await get(env.server, forged);
    expect(res.status).not.toBe(200);
  });
});

describe('F5: presets accept IP literals and WHATWG IPv4 shorthands as a "domain"', () => {
  it.each(['127.1', '0x7f.1', '169.254.169.254', '10.0.0.1', '0177.0.0.1'])('auth0Issuer/oktaIssuer refuse domain %s', (domain) => {
    expect(() => auth0Issuer({ domain, audience: 'x' })).toThrow(JwksOptionsError);
    expect(() => oktaIssuer({ domain })).toThrow(JwksOptionsError);
  });
});

describe('F6: keycloakIssuer baseUrl with a backslash: the issuer lands on another host than the text reads', () => {
  it('refuses baseUrl "https://evil.example\\\\@kc.example.com" (WHATWG host evil.example; RFC 3986 parsers read kc.example.com)', () => {
    let built: unknown;
    try {
      built = keycloakIssuer({ baseUrl: 'https://evil.example\\@kc.example.com', realm: 'acme', audience: 'api' });
    } catch (err) {
      expect(err).toBeInstanceOf(JwksOptionsError);
      return;
    }
    // Reached only when accepted: show where it points.
    expect(built).toBeUndefined();
  });

  it('an error message about such a URL shows the real host, not the part after the backslash', () => {
    // describeUrl masks "evil.example\" as if it were credentials: the log names the wrong host.
    try {
      keycloakIssuer({ baseUrl: 'ftp://evil.example\\@kc.example.com', realm: 'acme', audience: 'api' });
      throw new Error('accepted');
    } catch (err) {
      expect(String((err as Error).message)).toContain('evil.example');
    }
  });
});

describe('F7: keycloakIssuer with a realm holding a lone surrogate throws URIError, not JwksOptionsError', () => {
  it('throws the typed options error', () => {
    expect(() => keycloakIssuer({ baseUrl: 'https://kc.example.com', realm: 'a\uD800', audience: 'api' })).toThrow(JwksOptionsError);
  });
});

describe('F8: a custom JWKS_FETCHER that finishes after removeIssuer writes the removed key set back to the store', () => {
  let a: TestIssuer;
  let b: TestIssuer;
  let app: INestApplication;

  afterAll(async () => {
    await app?.close();
    await Promise.all([a?.close(), b?.close()]);
  });

  it('leaves nothing of the removed issuer in the store', async () => {
    [a, b] = await Promise.all([TestIssuer.start({ path: '/a' }), TestIssuer.start({ path: '/b' })]);
    const store = new MemoryKeySetStore();
    const saved: string[] = [];
    const realSave = store.save.bind(store);
    store.save = (id, state) => {
      saved.push(id.issuer);
      return realSave(id, state);
    };
    // A proxying fetcher (README: "a proxy, mTLS") that does not wire the abort signal through.
    let slow = false;
    const fetcher: JwksFetcher = async (req) => {
      const delayed = slow;
      const result = await httpJwksFetcher({ ...req, signal: undefined });
      if (delayed) await new Promise((r) => setTimeout(r, 300));
      return result;
    };
    const { Test } = await import('@nestjs/testing');
    const moduleRef = await Test.createTestingModule({
      imports: [JwksAuthModule.forRoot({ issuers: [{ issuer: a.issuer, jwksUri: a.jwksUri }], audience: a.audience })],
    })
      .overrideProvider(JWKS_FETCHER)
      .useValue(fetcher)
      .overrideProvider(JWKS_STORE)
      .useValue(store)
      .compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    const cache = app.get(JwksCacheService);

    slow = true;
    const adding = cache.addIssuer({ issuer: b.issuer, jwksUri: b.jwksUri });
    await waitFor(() => b.requestCount === 1);
    await cache.removeIssuer(b.issuer);
    // addIssuer() says the issuer was removed meanwhile, rather than resolving as if it were served.
    await expect(adding).rejects.toThrow(JwksArgumentError);
    await new Promise((r) => setTimeout(r, 500));

    expect(await store.load({ issuer: b.issuer, jwksUri: b.jwksUri })).toBeNull();
    expect(saved).not.toContain(b.issuer);
  });
});

describe('F9: knownHeaders outlives the issuer that filled it: after removeIssuer, a header with an algorithm no remaining issuer allows skips the allowlist', () => {
  let a: TestIssuer;
  let b: TestIssuer;
  let env: Booted;

  beforeAll(async () => {
    a = await TestIssuer.start({ path: '/a', alg: 'ES256', audience: 'api' });
    b = await TestIssuer.start({ path: '/b', alg: 'RS256', audience: 'api' });
    env = await boot({
      issuers: [
        { issuer: a.issuer, jwksUri: a.jwksUri, algorithms: ['ES256'] },
        { issuer: b.issuer, jwksUri: b.jwksUri, algorithms: ['RS256'] },
      ],
      audience: 'api',
    });
  });
  afterAll(async () => {
    await env?.app.close();
    await Promise.all([a?.close(), b?.close()]);
  });

  it('refuses at the header (ERR_JWT_ALG_NOT_ALLOWED), with no fetch, a token whose alg only a removed issuer allowed', async () => {
    const n = () => Math.floor(env.clock.now() / 1000);
    await get(env.server, a.sign({ iat: n(), exp: n() + 300 })).expect(200); // A's ES256 header is now "known"
    await env.cache.removeIssuer(a.issuer);
    const before = { fetches: b.requestCount, refusals: env.verifier.refusalCounts() };
    // Same header bytes as A's genuine tokens (alg ES256, A's kid), now claiming B.
    await get(env.server, a.sign({ iss: b.issuer, iat: n(), exp: n() + 300 })).expect(401);
    const after = env.verifier.refusalCounts();
    expect((after.ERR_JWT_ALG_NOT_ALLOWED ?? 0) - (before.refusals.ERR_JWT_ALG_NOT_ALLOWED ?? 0)).toBe(1);
    // The cheap checks come first: a token no issuer may accept must not cost B an unknown-kid refetch.
    expect(b.requestCount).toBe(before.fetches);
  });
});

describe('F10: addIssuer() resolves as if it succeeded when the issuer was removed while it warmed up', () => {
  let a: TestIssuer;
  let x: TestIssuer;
  let env: Booted;

  beforeAll(async () => {
    [a, x] = await Promise.all([TestIssuer.start({ path: '/a' }), TestIssuer.start({ path: '/x' })]);
    env = await boot({ issuers: [{ issuer: a.issuer, jwksUri: a.jwksUri }], audience: a.audience });
  });
  afterAll(async () => {
    await env?.app.close();
    await Promise.all([a?.close(), x?.close()]);
  });

  it('rejects, so a provisioning job does not record a tenant as served when it is not', async () => {
    x.setFault({ delayMs: 300 });
    const adding = env.cache.addIssuer({ issuer: x.issuer, jwksUri: x.jwksUri });
    await env.cache.removeIssuer(x.issuer);
    await expect(adding).rejects.toThrow();
    expect(env.cache.issuers()).toEqual([a.issuer]);
  });
});

describe("F11: with cache.snapshotPath, removeIssuer leaves the removed issuer's key set on disk, and a re-add restores it", () => {
  let a: TestIssuer;
  let b: TestIssuer;
  let env: Booted;
  let dir: string;

  afterAll(async () => {
    await env?.app.close();
    await Promise.all([a?.close(), b?.close()]);
    const { rm } = await import('node:fs/promises');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('deletes the snapshot file of a removed issuer', async () => {
    const { mkdtemp, readdir } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    dir = await mkdtemp(join(tmpdir(), 'jwks-attack-'));
    [a, b] = await Promise.all([TestIssuer.start({ path: '/a' }), TestIssuer.start({ path: '/b' })]);
    env = await boot({
      issuers: [
        { issuer: a.issuer, jwksUri: a.jwksUri },
        { issuer: b.issuer, jwksUri: b.jwksUri },
      ],
      audience: a.audience,
      cache: { snapshotPath: join(dir, 'jwks.json') },
      warmupTimeoutMs: 500,
      fetch: { timeoutMs: 500 },
    });
    const settle = () => new Promise((r) => setTimeout(r, 200));
    await settle();
    const before = (await readdir(dir)).filter((f) => !f.endsWith('.tmp'));
    expect(before).toHaveLength(2);

    await env.cache.removeIssuer(b.issuer);
    await settle();
    const after = (await readdir(dir)).filter((f) => !f.endsWith('.tmp'));
    // B offboarded (say its IdP keys leaked): nothing of it may stay to be served again.
    const leftOver = after.length === 1;
    if (!leftOver) {
      // Show the consequence: B is re-added while its IdP is down, and the removed set serves again.
      b.setFault({ status: 503 });
      await env.cache.addIssuer({ issuer: b.issuer, jwksUri: b.jwksUri });
      // eslint-disable-next-line no-console
    }
    expect(after).toHaveLength(1);
  });
});

describe('F12: revokeKey() is forgotten when an issuer is removed and added back (the only way to change its options at runtime)', () => {
  let a: TestIssuer;
  let env: Booted;

  beforeAll(async () => {
    a = await TestIssuer.start({ path: '/a' });
    env = await boot({ issuers: [{ issuer: a.issuer, jwksUri: a.jwksUri, audience: 'api-v1' }], audience: 'x' });
  });
  afterAll(async () => {
    await env?.app.close();
    await a?.close();
  });

  it('keeps refusing a revoked kid after the issuer is re-added with new options', async () => {
    const n = () => Math.floor(env.clock.now() / 1000);
    const leaked = a.kid; // the key leaked: refuse it now, the IdP rotates later
    env.cache.revokeKey(leaked, a.issuer);
    await get(env.server, a.sign({ aud: 'api-v2', iat: n(), exp: n() + 300 })).expect(401);
    // An unrelated change: the tenant's API gets a second audience. No updateIssuer(): remove + add.
    await env.cache.removeIssuer(a.issuer);
    await env.cache.addIssuer({ issuer: a.issuer, jwksUri: a.jwksUri, audience: ['api-v1', 'api-v2'] });
    expect(env.cache.getState(a.issuer).revokedKids).toEqual([leaked]);
    await get(env.server, a.sign({ aud: 'api-v2', iat: n(), exp: n() + 300 })).expect(401);
  });
});
