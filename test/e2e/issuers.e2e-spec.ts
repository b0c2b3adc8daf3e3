import { randomUUID } from 'node:crypto';
import { Agent, type Server } from 'node:http';
import { type INestApplication } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import request from 'supertest';
import {
  JwksArgumentError,
  JwksAuthModule,
  JwksCacheService,
  JwksOptionsError,
  JwtVerifier,
  type JwksAuthModuleOptions,
  type JwksIssuerOptions,
} from '../../lib';
import { FakeClock, TestIssuer, waitFor, type TestIssuerFault } from '../../lib/testing';
import { bootApp } from '../fixtures/app';
import { craft } from '../fixtures/craft';
import { ProtectedController } from '../fixtures/protected.controller';
import { IssuersHealthController } from '../fixtures/health.controller';

/**
 * The "Issuers" acceptance tests: real Nest apps over HTTP against three real TestIssuers, each
 * configured without a jwksUri and so found through its own discovery document (a Keycloak-style
 * realm, a tenant path, and one that serves only the RFC 8414 document), plus a fourth issuer the
 * app is not configured for. Fake clocks keep every timer (background refresh, cooldown, backoff,
 * maxTtlMs) under the test's control; the HTTP is real.
 */

interface Issuers {
  /** Keycloak-style realm, OIDC document. */
  a: TestIssuer;
  /** A tenant path, OIDC document. */
  b: TestIssuer;
  /** Only the RFC 8414 document: found after the OIDC location answers 404. */
  c: TestIssuer;
  /** Never configured: the outsider. */
  d: TestIssuer;
}

async function startIssuers(): Promise<Issuers> {
  const [a, b, c, d] = await Promise.all([
    TestIssuer.start({ path: '/realms/a', audience: 'https://api-a.example.test' }),
    TestIssuer.start({ path: '/tenant-b', audience: 'https://api-b.example.test' }),
    TestIssuer.start({ path: '/as/c', discovery: 'rfc8414', audience: 'https://api-c.example.test' }),
    TestIssuer.start({ path: '/realms/d', audience: 'https://api-d.example.test' }),
  ]);
  return { a, b, c, d };
}

async function closeIssuers(issuers: Issuers | undefined): Promise<void> {
  if (issuers) await Promise.all(Object.values(issuers).map((i) => i.close()));
}

function clearFaults(issuers: Issuers): void {
  for (const i of Object.values(issuers)) {
    i.clearFault();
    i.setDiscoveryFault(null);
  }
}

/** An issuers[] entry with no jwksUri: the key set is found through discovery. */
const discovered = (i: TestIssuer): JwksIssuerOptions => ({ issuer: i.issuer, audience: i.audience });

/** Small timeouts keep a failing case fast; the fake clock drives every other timer. */
function moduleOptions(configured: TestIssuer[], extra: Partial<JwksAuthModuleOptions> = {}): JwksAuthModuleOptions {
  return { issuers: configured.map(discovered), warmupTimeoutMs: 1_000, fetch: { timeoutMs: 1_000 }, ...extra };
}

interface Booted {
  app: INestApplication;
  server: Server;
  cache: JwksCacheService;
  verifier: JwtVerifier;
  clock: FakeClock;
}

async function boot(options: JwksAuthModuleOptions): Promise<Booted> {
  const clock = new FakeClock();
  const app = await bootApp({ imports: [TerminusModule, JwksAuthModule.forRoot(options)], controllers: [ProtectedController, IssuersHealthController] }, { clock });
  // One listening server for the whole app: thousands of requests need no bind each.
  await app.listen(0, '127.0.0.1');
  return { app, server: app.getHttpServer() as Server, cache: app.get(JwksCacheService), verifier: app.get(JwtVerifier), clock };
}

/** Keep-alive connections: a flood of thousands of requests need not open a socket each. */
const keepAlive = new Agent({ keepAlive: true });
afterAll(() => keepAlive.destroy());

function get(server: Server, token?: string) {
  const req = request(server).get('/me').agent(keepAlive);
  return token === undefined ? req : req.set('Authorization', `Bearer ${token}`);
}

function health(server: Server, query: { require?: 'all' | 'any'; issuer?: string } = {}) {
  return request(server).get('/health').query(query);
}

/** Refusal codes counted since `before`, only those that changed. */
function refusalsSince(verifier: JwtVerifier, before: Record<string, number>): Record<string, number> {
  const changed: Record<string, number> = {};
  for (const [code, n] of Object.entries(verifier.refusalCounts())) if (n !== (before[code] ?? 0)) changed[code] = n - (before[code] ?? 0);
  return changed;
}

/** Every request an issuer's endpoints received: the JWKS and both discovery locations. */
const traffic = (i: TestIssuer) => ({ jwks: i.requestCount, discovery: i.discoveryRequestCount });

/** Lets background fetches the fake clock started finish (their HTTP is real). */
async function idle(cache: JwksCacheService): Promise<void> {
  await waitFor(() => Object.values(cache.getStates()).every((s) => !s.fetching));
}

/** Moves the fake clock in steps, letting each background fetch finish before the next step. */
async function stepClock(env: Booted, ms: number, stepMs = 5_000): Promise<void> {
  for (let done = 0; done < ms; done += stepMs) {
    await env.clock.advance(Math.min(stepMs, ms - done));
    await idle(env.cache);
  }
}

describe('three issuers found through discovery, one app', () => {
  let issuers: Issuers;
  let env: Booted;

  beforeAll(async () => {
    issuers = await startIssuers();
    const { a, b } = issuers;
    // Issuer B also publishes a key under A's kid: the collision the key sets must keep apart.
    b.addKey({ kid: a.kid });
    env = await boot(moduleOptions([a, b, issuers.c], { cache: { cooldownMs: 30_000 } }));
  });
  afterAll(async () => {
    await env?.app.close();
    await closeIssuers(issuers);
  });

  it("finds each issuer through its own discovery document and accepts each one's tokens; getStates and health show three up", async () => {
    const { a, b, c, d } = issuers;
    // OIDC document for A and B; C's OIDC location answers 404, then its RFC 8414 document.
    expect([a, b, c, d].map(traffic)).toEqual([
      { jwks: 1, discovery: 1 },
      { jwks: 1, discovery: 1 },
      { jwks: 1, discovery: 2 },
      { jwks: 0, discovery: 0 },
    ]);
    for (const issuer of [a, b, c]) {
      const res = await get(env.server, issuer.sign({ sub: `user-of-${issuer.issuer}` })).expect(200);
      expect(res.body).toMatchObject({ iss: issuer.issuer, aud: issuer.audience, sub: `user-of-${issuer.issuer}` });
    }

    const states = env.cache.getStates();
    expect(Object.keys(states)).toEqual([a.issuer, b.issuer, c.issuer]);
    expect(env.cache.issuers()).toEqual([a.issuer, b.issuer, c.issuer]);
    expect(states[a.issuer]).toMatchObject({ phase: 'fresh', kids: [a.kid], lastError: null, fetchCount: 1 });
    expect(states[b.issuer]).toMatchObject({ phase: 'fresh', lastError: null, fetchCount: 1 });
    expect([...states[b.issuer].kids].sort()).toEqual([b.kid, a.kid].sort());
    expect(states[c.issuer]).toMatchObject({ phase: 'fresh', kids: [c.kid], lastError: null, fetchCount: 1 });

    for (const mode of ['all', 'any'] as const) {
      const res = await health(env.server, { require: mode }).expect(200);
      expect(res.body.details.jwks).toMatchObject({ status: 'up', up: 3, down: 0 });
      expect(Object.keys(res.body.details.jwks.issuers)).toEqual([a.issuer, b.issuer, c.issuer]);
      for (const issuer of [a, b, c]) expect(res.body.details.jwks.issuers[issuer.issuer]).toMatchObject({ status: 'up', phase: 'fresh', keyCount: issuer === b ? 2 : 1 });
    }
    const one = await health(env.server, { issuer: c.issuer }).expect(200);
    expect(one.body.details.jwks).toMatchObject({ status: 'up', keyCount: 1, lastError: null });

    // Each issuer's own audience: a token of A made out to B's API is refused.
    const before = env.verifier.refusalCounts();
    await get(env.server, a.sign({ aud: b.audience })).expect(401);
    await get(env.server, b.sign({ aud: a.audience })).expect(401);
    expect(refusalsSince(env.verifier, before)).toEqual({ ERR_JWT_AUDIENCE: 2 });
  });

  it("keeps keys apart when two issuers publish the same kid: B's key never verifies a token claiming A", async () => {
    const { a, b } = issuers;
    const shared = a.kid;
    expect(b.publishedKids()).toContain(shared);
    const before = [a, b].map(traffic);
    const refusals = env.verifier.refusalCounts();

    // Each issuer's own tokens under the shared kid verify, each against its own key.
    await get(env.server, a.sign({ sub: 'a-own' })).expect(200);
    await get(env.server, b.sign({ sub: 'b-own-shared-kid' }, { kid: shared })).expect(200);
    await get(env.server, b.sign({ sub: 'b-own' })).expect(200);

    // Signed with B's key published under the shared kid, claiming to be A (and A's audience): refused.
    const forged = b.sign({ iss: a.issuer, aud: a.audience, sub: 'mallory' }, { kid: shared });
    await get(env.server, forged).expect(401);
    // And the other way round: A's key under the shared kid, claiming to be B.
    await get(env.server, a.sign({ iss: b.issuer, aud: b.audience, sub: 'mallory' }, { kid: shared })).expect(401);
    expect(refusalsSince(env.verifier, refusals)).toEqual({ ERR_JWS_SIGNATURE_INVALID: 2 });

    // Still both ways after the refusals (no key was swapped in or dropped by them), and nothing was fetched.
    await get(env.server, a.sign()).expect(200);
    await get(env.server, b.sign({}, { kid: shared })).expect(200);
    expect([a, b].map(traffic)).toEqual(before);
  });

  it('refuses a flood of unknown iss values (a fourth issuer, garbage) with no fetch anywhere and no new state', async () => {
    const { a, b, c, d } = issuers;
    const everyone = [a, b, c, d];
    const before = everyone.map(traffic);
    const statesBefore = env.cache.getStates();
    const refusals = env.verifier.refusalCounts();

    const garbage: unknown[] = [
      '', ' ', `${a.issuer}/`, ` ${a.issuer}`, `${a.issuer}\u0000`, a.issuer.toUpperCase(), a.issuer.replace('http://', 'https://'),
      `${a.issuer}/../../tenant-b`, `${b.issuer}#`, `${c.issuer}?x=1`, new URL(a.issuer).origin,
      // Names an object-keyed lookup would find on the prototype.
      '__proto__', 'constructor', 'toString', 'hasOwnProperty',
      42, 0, null, true, [a.issuer], { iss: a.issuer }, 'x'.repeat(4_000),
    ];
    const tokens: string[] = [];
    // The fourth issuer's genuine tokens: its iss, its key and kid.
    for (let i = 0; i < 100; i++) tokens.push(d.sign({ jti: randomUUID() }));
    // Garbage iss, signed with the fourth issuer's key and with A's own (a kid A knows).
    for (const iss of garbage) tokens.push(d.sign({ iss }), a.sign({ iss }), a.sign({ iss }, { header: { kid: randomUUID() } }));
    tokens.push(a.sign({ iss: undefined }), d.sign({ iss: undefined }));
    // The rest: a different, never-seen issuer per token (a registry that grew per iss would show it).
    for (let i = 0; tokens.length < 2_000; i++) {
      const now = Math.floor(Date.now() / 1000);
      const kid = i % 2 === 0 ? d.kid : randomUUID();
      tokens.push(craft({ alg: 'RS256', typ: 'JWT', kid }, { iss: `https://tenant-${i}.idp.example/`, aud: a.audience, sub: 'x', iat: now, exp: now + 300 }));
    }
    expect(tokens).toHaveLength(2_000);

    const valid = [a, b, c].map((i) => i.sign({ sub: 'still-served' }));
    const statuses = new Map<number, number>();
    const challenges = new Set<string>();
    for (let i = 0; i < tokens.length; i += 200) {
      const batch = tokens.slice(i, i + 200).map(async (token) => {
        const res = await get(env.server, token);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        challenges.add(String(res.headers['www-authenticate']));
      });
      // The configured issuers keep being served in the middle of the flood.
      await Promise.all([...batch, ...valid.map((t) => get(env.server, t).expect(200))]);
    }

    expect(Object.fromEntries(statuses)).toEqual({ 401: 2_000 });
    expect([...challenges]).toEqual(['Bearer error="invalid_token"']);
    expect(refusalsSince(env.verifier, refusals)).toEqual({ ERR_JWT_ISSUER: 2_000 });
    // Not one request to any issuer (the fourth one included), not one new issuer or key set.
    expect(everyone.map(traffic)).toEqual(before);
    expect(env.cache.issuers()).toEqual([a.issuer, b.issuer, c.issuer]);
    const statesAfter = env.cache.getStates();
    expect(Object.keys(statesAfter)).toEqual(Object.keys(statesBefore));
    for (const issuer of Object.keys(statesBefore)) {
      expect(statesAfter[issuer]).toMatchObject({ fetchCount: statesBefore[issuer].fetchCount, kids: statesBefore[issuer].kids, coolingDown: false });
    }
  });

  it("keeps one issuer's unknown-kid cooldown its own: B's rotation is picked up at once while a kid flood holds A in cooldown", async () => {
    const { a, b, c } = issuers;
    const before = { a: a.requestCount, b: b.requestCount, c: c.requestCount };
    const refusals = env.verifier.refusalCounts();
    const validB = b.sign({ sub: 'b-during-flood' });
    const validC = c.sign({ sub: 'c-during-flood' });

    const flood = Array.from({ length: 300 }, () => a.sign({}, { header: { kid: randomUUID() } }));
    for (let i = 0; i < flood.length; i += 100) {
      await Promise.all([
        ...flood.slice(i, i + 100).map((t) => get(env.server, t).expect(401)),
        get(env.server, validB).expect(200),
        get(env.server, validC).expect(200),
      ]);
    }
    // The flood cost A one refetch, then A's cooldown refused the rest without a fetch.
    expect(a.requestCount).toBe(before.a + 1);
    expect(refusalsSince(env.verifier, refusals).ERR_JWKS_COOLDOWN).toBeGreaterThan(0);
    expect(env.cache.getState(a.issuer).coolingDown).toBe(true);
    expect(env.cache.getState(b.issuer).coolingDown).toBe(false);
    expect(b.requestCount).toBe(before.b);

    // B rotates: its new kid is an unknown kid of B's own set, fetched at once.
    const newB = b.rotate();
    const res = await get(env.server, b.sign({ sub: 'b-after-rotation' })).expect(200);
    expect(res.body.sub).toBe('b-after-rotation');
    expect(b.requestCount).toBe(before.b + 1);
    expect(env.cache.getState(b.issuer).kids).toContain(newB);

    // A's cooldown is still on: A's own rotation waits for it (the premise of this test holds).
    const newA = a.rotate();
    const refusedA = env.verifier.refusalCounts();
    await get(env.server, a.sign({ sub: 'a-after-rotation' })).expect(401);
    expect(refusalsSince(env.verifier, refusedA)).toEqual({ ERR_JWKS_COOLDOWN: 1 });
    expect(a.requestCount).toBe(before.a + 1);
    expect(c.requestCount).toBe(before.c);

    // Once A's cooldown has passed, A's new kid is fetched too.
    await env.clock.advance(30_000);
    await get(env.server, a.sign({ sub: 'a-after-cooldown' })).expect(200);
    expect(a.requestCount).toBe(before.a + 2);
    expect(env.cache.getState(a.issuer).kids).toContain(newA);
  });
});

describe('an issuer whose discovery fails, beside two that work', () => {
  let issuers: Issuers;
  let env: Booted | undefined;

  beforeAll(async () => {
    issuers = await startIssuers();
  });
  afterEach(async () => {
    await env?.app.close();
    env = undefined;
    clearFaults(issuers);
    for (const i of Object.values(issuers)) i.resetCounts();
  });
  afterAll(async () => {
    await closeIssuers(issuers);
  });

  type Case = {
    broken: 'a' | 'b' | 'c';
    fault: (broken: TestIssuer, outsider: TestIssuer) => TestIssuerFault;
    error: { kind: string; status?: number; message: RegExp };
  };
  const cases: Array<[string, Case]> = [
    [
      'names another issuer',
      {
        broken: 'a',
        fault: (x) => ({ body: { ...x.discoveryDocument(), issuer: 'https://idp.example.test/realms/a' } }),
        error: { kind: 'discovery', message: /issuer "https:\/\/idp\.example\.test\/realms\/a" does not equal the configured issuer/ },
      },
    ],
    [
      'puts jwks_uri on a foreign host',
      {
        broken: 'b',
        fault: (x, outsider) => ({ body: { ...x.discoveryDocument(), jwks_uri: outsider.jwksUri } }),
        error: { kind: 'discovery', message: /jwks_uri is on host "127\.0\.0\.1:\d+", not the issuer's "127\.0\.0\.1:\d+"; add it to allowedJwksHosts/ },
      },
    ],
    [
      'redirects (302) elsewhere',
      {
        broken: 'c',
        fault: (_x, outsider) => ({ status: 302, headers: { location: `${outsider.issuer}/.well-known/openid-configuration` } }),
        error: { kind: 'redirect', status: 302, message: /RFC 8414 discovery document endpoint http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-authorization-server\/as\/c answered 302; redirects are not followed/ },
      },
    ],
    [
      'is missing at both locations (404)',
      {
        broken: 'a',
        fault: () => ({ status: 404 }),
        error: { kind: 'discovery', status: 404, message: /no discovery document: .*\/realms\/a\/\.well-known\/openid-configuration answered 404 and .*\/\.well-known\/oauth-authorization-server\/realms\/a answered 404/ },
      },
    ],
    [
      'is an HTML page served with 200',
      {
        broken: 'b',
        fault: () => ({ body: '<!doctype html><html><body>Sign in to continue</body></html>', headers: { 'content-type': 'text/html; charset=utf-8' } }),
        error: { kind: 'content-type', status: 200, message: /discovery document response is not JSON \(status 200, content-type text\/html\)/ },
      },
    ],
  ];

  it.each(cases)('when the document %s: a clear lastError, that issuer down, its tokens 503, the others served', async (_name, { broken: which, fault, error }) => {
    const { d } = issuers;
    const broken = issuers[which];
    const healthy = (['a', 'b', 'c'] as const).filter((k) => k !== which).map((k) => issuers[k]);
    broken.setDiscoveryFault(fault(broken, d));
    env = await boot(moduleOptions([issuers.a, issuers.b, issuers.c]));

    // The key set was never fetched, from anywhere: not from the issuer, not from the outsider.
    expect(broken.requestCount).toBe(0);
    expect(traffic(d)).toEqual({ jwks: 0, discovery: 0 });
    const state = env.cache.getState(broken.issuer);
    expect(state).toMatchObject({ phase: 'empty', keyCount: 0, consecutiveFailures: 1 });
    expect(state.lastError).toMatchObject({ code: 'ERR_JWKS_FETCH', kind: error.kind });
    if (error.status !== undefined) expect(state.lastError?.status).toBe(error.status);
    expect(state.lastError?.message).toMatch(error.message);
    expect(state.lastError?.message).not.toMatch(/Sign in|<html/);
    for (const ok of healthy) expect(env.cache.getState(ok.issuer)).toMatchObject({ phase: 'fresh', lastError: null });

    // Health: that issuer down with its error; the whole down under 'all', up under 'any'.
    const own = await health(env.server, { issuer: broken.issuer }).expect(503);
    expect(own.body.details.jwks).toMatchObject({ status: 'down', phase: 'empty', lastError: { kind: error.kind, message: state.lastError?.message } });
    await health(env.server, { issuer: healthy[0].issuer }).expect(200);
    const all = await health(env.server, { require: 'all' }).expect(503);
    expect(all.body.details.jwks).toMatchObject({ status: 'down', up: 2, down: 1 });
    expect(all.body.details.jwks.issuers[broken.issuer]).toMatchObject({ status: 'down', lastError: { kind: error.kind } });
    for (const ok of healthy) expect(all.body.details.jwks.issuers[ok.issuer]).toMatchObject({ status: 'up' });
    const any = await health(env.server, { require: 'any' }).expect(200);
    expect(any.body.details.jwks).toMatchObject({ status: 'up', up: 2, down: 1 });

    // Its tokens: 503 with Retry-After (the server cannot verify; the token is not at fault), never 500.
    const res = await get(env.server, broken.sign()).expect(503);
    expect(res.headers['retry-after']).toMatch(/^[1-9]\d*$/);
    // A token the outsider signed in the broken issuer's name gets no further.
    await get(env.server, d.sign({ iss: broken.issuer, aud: broken.audience })).expect(503);
    for (const ok of healthy) await get(env.server, ok.sign()).expect(200);
    expect(traffic(d)).toEqual({ jwks: 0, discovery: 0 });

    // Once the document is fixed, the retry the backoff scheduled finds the keys.
    broken.setDiscoveryFault(null);
    await env.clock.advance(5_000);
    await waitFor(() => env!.cache.getState(broken.issuer).phase === 'fresh');
    await get(env.server, broken.sign()).expect(200);
    await health(env.server, { require: 'all' }).expect(200);
  });
});

describe('adding and removing issuers under traffic', () => {
  let issuers: Issuers;
  let env: Booted;

  beforeAll(async () => {
    issuers = await startIssuers();
    env = await boot(moduleOptions([issuers.a, issuers.b], { maxIssuers: 3, verifiedTokenCache: true }));
  });
  afterAll(async () => {
    await env?.app.close();
    await closeIssuers(issuers);
  });

  it("adds C (401 before, 200 once addIssuer resolves) and removes B (401 once removeIssuer resolves, cached tokens too) while A is never refused", async () => {
    const { a, b, c } = issuers;
    const aTokens = Array.from({ length: 4 }, (_, i) => a.sign({ sub: `a-${i}` }, { expiresInSec: 3_600 }));
    const bToken = b.sign({ sub: 'b-cached' }, { expiresInSec: 3_600 });
    // B's token goes into the verified-token cache, and is served from it (the fake clock stands
    // still, so the entry cannot expire: it is still there when B is removed).
    await get(env.server, bToken).expect(200);
    const stats = env.verifier.verifiedTokenCacheStats();
    await get(env.server, bToken).expect(200);
    expect(env.verifier.verifiedTokenCacheStats()).toMatchObject({ hits: stats.hits + 1, misses: stats.misses });

    let removed = false;
    let stop = false;
    const seen: Array<{ who: 'a' | 'b'; afterRemoval: boolean; status: number }> = [];
    const loop = (async () => {
      for (let round = 0; !stop; round++) {
        await Promise.all(
          Array.from({ length: 8 }, async (_, i) => {
            const who = i % 2 === 0 ? 'a' : 'b';
            const afterRemoval = removed;
            // A: cached tokens and fresh ones (a full verification each); B: its cached token.
            const token = who === 'a' ? (i === 0 ? a.sign({ sub: `a-fresh-${round}` }) : aTokens[i % 4]) : bToken;
            const res = await get(env.server, token);
            seen.push({ who, afterRemoval, status: res.status });
          }),
        );
      }
    })();
    try {
      await waitFor(() => seen.length >= 40);

      // C is not served yet: refused by iss, and nothing of C's is fetched.
      const cToken = c.sign({ sub: 'c-user' });
      const refusals = env.verifier.refusalCounts();
      await get(env.server, cToken).expect(401);
      expect(refusalsSince(env.verifier, refusals)).toEqual({ ERR_JWT_ISSUER: 1 });
      expect(traffic(c)).toEqual({ jwks: 0, discovery: 0 });

      const added = await env.cache.addIssuer({ issuer: c.issuer, audience: c.audience });
      expect(added).toMatchObject({ phase: 'fresh', kids: [c.kid], lastError: null });
      expect(traffic(c)).toEqual({ jwks: 1, discovery: 2 }); // found through its RFC 8414 document
      expect((await get(env.server, cToken).expect(200)).body.sub).toBe('c-user');
      expect(env.cache.issuers()).toEqual([a.issuer, b.issuer, c.issuer]);
      const mid = seen.length;
      await waitFor(() => seen.length >= mid + 40);

      // B's cached token is served right up to the removal...
      await get(env.server, bToken).expect(200);
      expect(await env.cache.removeIssuer(b.issuer)).toBe(true);
      removed = true;
      // ...and refused as soon as removeIssuer has resolved, as is a fresh one.
      await get(env.server, bToken).expect(401);
      await get(env.server, b.sign({ sub: 'b-fresh' })).expect(401);
      const end = seen.length;
      await waitFor(() => seen.length >= end + 40);
    } finally {
      stop = true;
      await loop;
    }

    const ofA = seen.filter((s) => s.who === 'a');
    const ofB = seen.filter((s) => s.who === 'b');
    expect(ofA.length).toBeGreaterThan(50);
    expect(ofA.filter((s) => s.status !== 200)).toEqual([]);
    expect(ofB.filter((s) => !s.afterRemoval && s.status === 200).length).toBeGreaterThan(10);
    const afterRemoval = ofB.filter((s) => s.afterRemoval);
    expect(afterRemoval.length).toBeGreaterThan(10);
    expect(afterRemoval.filter((s) => s.status !== 401)).toEqual([]);
    expect(ofB.filter((s) => s.status !== 200 && s.status !== 401)).toEqual([]);

    const lastRefusals = env.verifier.refusalCounts();
    await get(env.server, bToken).expect(401);
    expect(refusalsSince(env.verifier, lastRefusals)).toEqual({ ERR_JWT_ISSUER: 1 });
    expect(env.cache.issuers()).toEqual([a.issuer, c.issuer]);
    expect(Object.keys(env.cache.getStates())).toEqual([a.issuer, c.issuer]);
    expect(() => env.cache.getState(b.issuer)).toThrow(JwksArgumentError);
    expect(await env.cache.removeIssuer(b.issuer)).toBe(false);
  });

  it('stops fetching for a removed issuer, and serves it again once it is added back', async () => {
    const { a, b } = issuers;
    const bTraffic = traffic(b);
    const aFetches = a.requestCount;
    // Past the default 10-minute TTL: A's background refresh runs, B's timer is gone with B.
    await stepClock(env, 11 * 60_000, 60_000);
    expect(a.requestCount).toBeGreaterThan(aFetches);
    expect(traffic(b)).toEqual(bTraffic);

    const state = await env.cache.addIssuer({ issuer: b.issuer, audience: b.audience });
    expect(state).toMatchObject({ phase: 'fresh', kids: [b.kid] });
    expect(traffic(b)).toEqual({ jwks: bTraffic.jwks + 1, discovery: bTraffic.discovery + 1 });
    const now = Math.floor(env.clock.now() / 1000);
    await get(env.server, b.sign({ iat: now, exp: now + 300 })).expect(200);
  });

  it('refuses a fourth issuer over maxIssuers, a duplicate and invalid options with typed errors, changing nothing', async () => {
    const { a, b, c, d } = issuers;
    const served = [a.issuer, c.issuer, b.issuer];
    expect(env.cache.issuers()).toEqual(served);

    await expect(env.cache.addIssuer(discovered(d))).rejects.toThrow(JwksArgumentError);
    await expect(env.cache.addIssuer(discovered(d))).rejects.toThrow(/at most 3 issuers \(maxIssuers\)/);
    // Refused before anything was fetched.
    expect(traffic(d)).toEqual({ jwks: 0, discovery: 0 });
    expect(env.cache.issuers()).toEqual(served);

    expect(await env.cache.removeIssuer(c.issuer)).toBe(true);
    // Under the bound now, a duplicate is still refused, for what it is.
    const duplicate = env.cache.addIssuer({ issuer: a.issuer, audience: 'https://another-api.example.test' });
    await expect(duplicate).rejects.toThrow(JwksArgumentError);
    await expect(env.cache.addIssuer(discovered(a))).rejects.toThrow(/already configured/);

    const invalid: Array<[JwksIssuerOptions, RegExp]> = [
      [{ issuer: 'not a url', audience: d.audience }, /issuer .* is not a valid URL/],
      [{ issuer: 'http://idp.example.test/realms/x', audience: d.audience }, /must use https:/],
      [{ issuer: d.issuer, audience: d.audience, algorithms: ['HS256'] }, /symmetric/],
      [{ issuer: d.issuer } as JwksIssuerOptions, /audience is required/],
      [{ issuer: d.issuer, audience: d.audience, jwksUrl: d.jwksUri } as unknown as JwksIssuerOptions, /unknown option "jwksUrl" \(did you mean "jwksUri"\?\)/],
      [{ issuer: d.issuer, audience: d.audience, allowedJwksHosts: ['evil.example/path'] }, /allowedJwksHosts\[0\] must be a host name/],
      [null as unknown as JwksIssuerOptions, /must be an object/],
    ];
    for (const [options, message] of invalid) {
      const outcome = await env.cache.addIssuer(options).then(
        () => null,
        (err: unknown) => err,
      );
      expect({ options, outcome }).toEqual({ options, outcome: expect.any(JwksOptionsError) });
      expect((outcome as JwksOptionsError).message).toMatch(message);
    }
    expect(traffic(d)).toEqual({ jwks: 0, discovery: 0 });
    expect(env.cache.issuers()).toEqual([a.issuer, b.issuer]);
    expect(() => env.cache.removeIssuer(42 as unknown as string)).toThrow(JwksArgumentError);
  });
});

describe('a discovered issuer after its document goes away', () => {
  let issuers: Issuers;
  let env: Booted | undefined;

  beforeAll(async () => {
    issuers = await startIssuers();
  });
  beforeEach(async () => {
    for (const i of Object.values(issuers)) i.resetCounts();
    // maxTtlMs bounds how long a discovered jwks_uri is trusted without reading the document again.
    env = await boot(moduleOptions([issuers.a, issuers.b, issuers.c], { cache: { ttlMs: 60_000, maxTtlMs: 120_000 } }));
  });
  afterEach(async () => {
    await env?.app.close();
    env = undefined;
    clearFaults(issuers);
    issuers.a.moveJwks('/realms/a/.well-known/jwks.json');
  });
  afterAll(async () => {
    await closeIssuers(issuers);
  });

  /** A token valid on the fake clock for the whole test. */
  const tokenOf = (i: TestIssuer, claims: Record<string, unknown> = {}) => {
    const now = Math.floor(env!.clock.now() / 1000);
    return i.sign({ iat: now, exp: now + 3_600, ...claims });
  };

  it('keeps verifying and refreshing from the last known jwks_uri while the document answers 500', async () => {
    const { a } = issuers;
    const booted = env!;
    a.setDiscoveryFault({ status: 500 });
    await get(booted.server, tokenOf(a)).expect(200);

    const newKid = a.rotate();
    const state = await booted.cache.refresh(a.issuer, { force: true });
    expect(state).toMatchObject({ phase: 'fresh', lastError: null });
    expect(state.kids).toContain(newKid);
    // The refresh used the jwks_uri discovery gave; the document (still fresh) was not asked again.
    expect(traffic(a)).toEqual({ jwks: 2, discovery: 1 });
    await get(booted.server, tokenOf(a, { sub: 'new-key' })).expect(200);

    // Past maxTtlMs the document is asked again; it still fails, and the keys keep coming from the known location.
    const jwksBefore = a.requestCount;
    await stepClock(booted, 180_000);
    expect(a.discoveryRequestCount).toBeGreaterThan(1);
    expect(a.requestCount).toBeGreaterThan(jwksBefore + 2);
    expect(booted.cache.getState(a.issuer)).toMatchObject({ phase: 'fresh', lastError: null, consecutiveFailures: 0 });
    await get(booted.server, tokenOf(a)).expect(200);
    await health(booted.server, { require: 'all' }).expect(200);
  });

  it('reads the document again once cache.maxTtlMs has passed, not on every fetch', async () => {
    const { a, b, c } = issuers;
    const booted = env!;
    expect([a, b, c].map((i) => i.discoveryRequestCount)).toEqual([1, 1, 2]);
    // Background refreshes every 30 to 45 s (ttlMs 60 s): several fetches, the document untouched.
    await stepClock(booted, 115_000);
    expect(a.requestCount).toBeGreaterThanOrEqual(3);
    expect([a, b, c].map((i) => i.discoveryRequestCount)).toEqual([1, 1, 2]);
    // Between 120 s and 180 s one fetch finds the document older than maxTtlMs and reads it, once.
    await stepClock(booted, 65_000);
    // C answered from its RFC 8414 document at first: only that one is read again (no OIDC 404 first).
    expect([a, b, c].map((i) => i.discoveryRequestCount)).toEqual([2, 2, 3]);
    for (const i of [a, b, c]) expect(booted.cache.getState(i.issuer)).toMatchObject({ phase: 'fresh', lastError: null });
  });

  it('follows the keys when they move: after a 404 at the old jwks_uri the next fetch reads the document, and finds them', async () => {
    const { a } = issuers;
    const booted = env!;
    a.moveJwks('/realms/a/protocol/openid-connect/certs');
    const failed = await booted.cache.refresh(a.issuer, { force: true });
    expect(failed.lastError).toMatchObject({ kind: 'status', status: 404 });
    expect(a.discoveryRequestCount).toBe(1);
    // The last good set keeps serving meanwhile.
    await get(booted.server, tokenOf(a)).expect(200);

    const newKid = a.rotate();
    const found = await booted.cache.refresh(a.issuer, { force: true });
    expect(found).toMatchObject({ phase: 'fresh', lastError: null });
    expect(found.kids).toContain(newKid);
    expect(traffic(a)).toEqual({ jwks: 2, discovery: 2 });
    await get(booted.server, tokenOf(a, { sub: 'moved' })).expect(200);
    // Found: the next fetch goes straight to the new location.
    await booted.cache.refresh(a.issuer, { force: true });
    expect(traffic(a)).toEqual({ jwks: 3, discovery: 2 });
  });

  it.each<[string, TestIssuerFault, { kind: string; status: number }, boolean]>([
    ['410 Gone, the next fetch reads the document again', { status: 410 }, { kind: 'status', status: 410 }, true],
    ['a redirect (302), the next fetch reads the document again', { status: 302, headers: { location: 'http://127.0.0.1:9/keys' } }, { kind: 'redirect', status: 302 }, true],
    ['500 (an outage, not a move), the next fetch does not read the document', { status: 500 }, { kind: 'status', status: 500 }, false],
  ])('after the keys answer %s', async (_name, fault, error, rereads) => {
    const { a } = issuers;
    const booted = env!;
    a.queueFaults(fault);
    const failed = await booted.cache.refresh(a.issuer, { force: true });
    expect(failed.lastError).toMatchObject(error);
    expect(a.discoveryRequestCount).toBe(1);
    const next = await booted.cache.refresh(a.issuer, { force: true });
    expect(next.lastError).toBeNull();
    expect(a.discoveryRequestCount).toBe(rereads ? 2 : 1);
  });
});
