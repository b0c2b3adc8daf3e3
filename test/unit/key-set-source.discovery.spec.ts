import { generateKeyPairSync } from 'node:crypto';
import { KeySetSource, type KeySetLog } from '../../lib/cache/key-set.source';
import type { KeySetId, KeySetStore } from '../../lib/store/key-set.store';
import { loggingListener, type JwksAuthEvent } from '../../lib/events/jwks-auth.events';
import { resolveJwksOptions } from '../../lib/options/options.validator';
import { JwksFetchError, JwksRefreshDeferredError } from '../../lib/errors/jwks.errors';
import type { JwksFetcher, JwksFetchRequest, JwksFetchResult } from '../../lib/fetch/jwks.fetcher';
import type { DiscoveryFetcher, DiscoveryRequest, DiscoveryResult } from '../../lib/fetch/discovery.fetcher';
import { FakeClock, flushPromises } from '../../lib/testing';

/*
 * Where a key set configured without `jwksUri` fetches from (`jwksLocation()`): the issuer's
 * discovery document, read inside the key set's own fetch, on a fake clock, with a fake discovery
 * function and a fake JWKS fetcher.
 */

const ISSUER = 'https://idp.test/tenant';
const T0 = 1_700_000_000_000;
const TTL = 600_000;
const MAX_TTL = 3_600_000;
/** The discovered location; its query string never reaches a log or an event. */
const FOUND = 'https://keys.idp.test/tenant/jwks?tenant=secret';
const FOUND_LOGGED = 'https://keys.idp.test/tenant/jwks';
const MOVED = 'https://keys.idp.test/tenant/jwks-v2';

function jwk(kid: string) {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256' };
}
const K1 = jwk('k1');

const options = resolveJwksOptions({
  issuer: ISSUER,
  audience: 'api',
  algorithms: ['ES256'],
  cache: { ttlMs: TTL, maxTtlMs: MAX_TTL, cooldownMs: 30_000, refreshAheadMs: 30_000 },
});

function nullStore(): KeySetStore {
  return { load: async (_id: KeySetId) => null, save: async () => {} };
}

function fakeIdp() {
  const idp = {
    requests: [] as JwksFetchRequest[],
    fail: null as Error | null,
    get uris() {
      return idp.requests.map((r) => r.uri);
    },
    fetcher: (async (request) => {
      idp.requests.push(request);
      if (idp.fail) throw idp.fail;
      return { kind: 'ok', jwks: JSON.stringify({ keys: [K1] }), etag: null } satisfies JwksFetchResult;
    }) as JwksFetcher,
  };
  return idp;
}

/** A discovery function: names `jwksUri`, or fails, or hangs until its signal is aborted. */
function fakeDiscovery() {
  const d = {
    requests: [] as DiscoveryRequest[],
    jwksUri: FOUND,
    fail: null as unknown,
    hang: false,
    discover: (async (request): Promise<DiscoveryResult> => {
      d.requests.push(request);
      if (d.hang) {
        await new Promise((_, reject) => request.signal?.addEventListener('abort', () => reject(new JwksFetchError('discovery document request cancelled', 'network'))));
      }
      if (d.fail) throw d.fail;
      return { jwksUri: d.jwksUri, documentUri: `${ISSUER}/.well-known/openid-configuration` };
    }) as DiscoveryFetcher,
  };
  return d;
}

function build(opts: { discover?: DiscoveryFetcher | null; d?: ReturnType<typeof fakeDiscovery>; idp?: ReturnType<typeof fakeIdp>; withJwksUri?: boolean } = {}) {
  const d = opts.d ?? fakeDiscovery();
  const idp = opts.idp ?? fakeIdp();
  const clock = new FakeClock(T0, { random: () => 0.5 });
  const events: JwksAuthEvent[] = [];
  const lines: string[] = [];
  const log: KeySetLog = { warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`) };
  const own = opts.withJwksUri ? { ...options.issuers[0], jwksUri: 'https://idp.test/tenant/jwks' } : options.issuers[0];
  const source = new KeySetSource({
    options,
    issuer: own,
    clock,
    fetcher: idp.fetcher,
    discover: opts.discover === null ? undefined : (opts.discover ?? d.discover),
    store: nullStore(),
    listeners: [loggingListener(log), (e) => events.push(e)],
  });
  return { source, d, idp, clock, events, lines };
}

async function started(opts: Parameters<typeof build>[0] = {}) {
  const h = build(opts);
  await h.source.start();
  return h;
}

describe('KeySetSource discovery (no jwksUri configured)', () => {
  it('reads the document once at warm-up, fetches the jwks_uri it names and logs that URI without its query', async () => {
    const { source, d, idp, events } = await started();
    expect(options.issuers[0].jwksUri).toBeNull();
    expect(d.requests).toHaveLength(1);
    expect(d.requests[0]).toMatchObject({ issuer: ISSUER, allowedJwksHosts: [], timeoutMs: options.fetch.timeoutMs, maxResponseBytes: options.fetch.maxResponseBytes, now: T0 });
    expect(d.requests[0].signal).toBeInstanceOf(AbortSignal);
    expect(idp.uris).toEqual([FOUND]);
    expect(source.getState().kids).toEqual(['k1']);
    expect(events.find((e) => e.type === 'fetch-finished')).toMatchObject({ outcome: 'ok', jwksUri: FOUND_LOGGED, issuer: ISSUER });
    expect(source.id).toEqual({ issuer: ISSUER, jwksUri: null });
    await source.close();
  });

  it('reuses the discovered jwks_uri without reading the document again until cache.maxTtlMs has passed', async () => {
    const { source, d, idp, clock } = await started();
    await source.refresh();
    await clock.advance(MAX_TTL - 1); // several background refreshes on the way
    await source.refresh();
    expect(idp.requests.length).toBeGreaterThan(5);
    expect(d.requests).toHaveLength(1);
    expect(new Set(idp.uris)).toEqual(new Set([FOUND]));
    d.jwksUri = MOVED;
    await clock.advance(1);
    await source.refresh();
    expect(d.requests).toHaveLength(2);
    expect(idp.uris.at(-1)).toBe(MOVED);
    await source.refresh();
    expect(d.requests).toHaveLength(2); // the new reading is good for another maxTtlMs
    await source.close();
  });

  it.each([
    ['a 404', new JwksFetchError('JWKS endpoint answered 404', 'status', 404)],
    ['a 410', new JwksFetchError('JWKS endpoint answered 410', 'status', 410)],
    ['a redirect', new JwksFetchError('JWKS endpoint answered a redirect (301)', 'redirect', 301)],
  ])('after %s from the JWKS location the next fetch reads the document again', async (_what, error) => {
    const { source, d, idp, events } = await started();
    idp.fail = error;
    await source.refresh();
    expect(d.requests).toHaveLength(1); // the failing fetch itself used the known location
    expect(events.at(-2)).toMatchObject({ type: 'fetch-finished', outcome: 'failed', jwksUri: FOUND_LOGGED });
    idp.fail = null;
    d.jwksUri = MOVED;
    await source.refresh({ force: true });
    expect(d.requests).toHaveLength(2);
    expect(idp.uris).toEqual([FOUND, FOUND, MOVED]);
    expect(events.at(-1)).toMatchObject({ type: 'fetch-finished', outcome: 'ok', jwksUri: MOVED });
    await source.refresh(); // answered: the new location holds until maxTtlMs again
    expect(d.requests).toHaveLength(2);
    expect(idp.uris.at(-1)).toBe(MOVED);
    await source.close();
  });

  it('announces and logs a jwks_uri that moved on a re-read, and not one that stayed', async () => {
    const { source, d, idp, clock, events, lines } = await started();
    await clock.advance(MAX_TTL);
    events.length = 0;
    lines.length = 0;
    await source.refresh(); // past maxTtlMs: read again, same location
    expect(d.requests).toHaveLength(2);
    expect(events.filter((e) => e.type === 'jwks-uri-changed')).toEqual([]);
    idp.fail = new JwksFetchError('JWKS endpoint answered 404', 'status', 404);
    await source.refresh({ force: true });
    idp.fail = null;
    d.jwksUri = MOVED;
    await source.refresh({ force: true });
    expect(events.filter((e) => e.type === 'jwks-uri-changed')).toEqual([{ type: 'jwks-uri-changed', jwksUri: MOVED, previous: FOUND_LOGGED, issuer: ISSUER }]);
    expect(lines).toContain(`warn JWKS discovery for ${ISSUER}: the keys moved from ${FOUND_LOGGED} to ${MOVED}`);
    await source.close();
  });

  it.each([
    ['a 500', new JwksFetchError('JWKS endpoint answered 500', 'status', 500)],
    ['a timeout', new JwksFetchError('JWKS request timed out', 'timeout')],
  ])('after %s the known location is kept', async (_what, error) => {
    const { source, d, idp } = await started();
    idp.fail = error;
    await source.refresh();
    idp.fail = null;
    await source.refresh({ force: true });
    expect(d.requests).toHaveLength(1);
    expect(idp.uris).toEqual([FOUND, FOUND, FOUND]);
    await source.close();
  });

  it('a failed re-reading keeps the known jwks_uri, announces discovery-failed (logged), and asks the document again only after its Retry-After', async () => {
    const { source, d, idp, clock, events, lines } = await started();
    await clock.advance(MAX_TTL);
    const before = idp.requests.length;
    d.fail = new JwksFetchError('discovery document request failed: status 503', 'status', 503, 60_000);
    events.length = 0;
    lines.length = 0;
    await source.refresh();
    expect(idp.uris.slice(before)).toEqual([FOUND]);
    expect(events).toEqual([
      { type: 'discovery-failed', jwksUri: FOUND_LOGGED, message: 'discovery document request failed: status 503', issuer: ISSUER },
      expect.objectContaining({ type: 'fetch-finished', outcome: 'ok' }),
    ]);
    expect(lines).toEqual([`warn JWKS discovery for ${ISSUER} failed: discovery document request failed: status 503; still using ${FOUND_LOGGED}`]);
    // The keys answered: no failure, no backoff (the document's Retry-After does not stop the keys).
    expect(source.getState()).toMatchObject({ consecutiveFailures: 0, lastError: null, nextAttemptAt: null });
    d.fail = null;
    d.jwksUri = MOVED;
    // Inside the document's Retry-After (60 s, above the cooldown): the known location, no document request.
    await clock.advance(59_000);
    await source.refresh();
    expect(d.requests).toHaveLength(2);
    expect(idp.uris.at(-1)).toBe(FOUND);
    await clock.advance(1_000);
    await source.refresh();
    expect(d.requests).toHaveLength(3);
    expect(idp.uris.at(-1)).toBe(MOVED);
    await source.close();
  });

  it('a re-reading that throws something else is announced without its message', async () => {
    const { source, d, clock, events } = await started();
    await clock.advance(MAX_TTL);
    d.fail = new Error('token=abc123 leaked by a custom discovery');
    await source.refresh();
    expect(events).toContainEqual(expect.objectContaining({ type: 'discovery-failed', message: 'discovery failed' }));
    expect(JSON.stringify(events)).not.toContain('abc123');
    await source.close();
  });

  it('a failed first discovery is a failed fetch: no key request, lastError kind discovery, backoff applies', async () => {
    const d = fakeDiscovery();
    d.fail = new JwksFetchError('discovery document names another issuer', 'discovery');
    const { source, idp, clock, events, lines } = await started({ d });
    expect(idp.requests).toHaveLength(0);
    expect(source.getState()).toMatchObject({
      phase: 'empty',
      consecutiveFailures: 1,
      lastError: { kind: 'discovery', code: 'ERR_JWKS_FETCH', message: 'discovery document names another issuer' },
      nextAttemptAt: T0 + 500,
    });
    expect(events.map((e) => e.type)).toEqual(['fetch-finished', 'warm-up-failed']);
    // Until the document has named the keys' location, the issuer is what is logged.
    expect(events[0]).toMatchObject({ outcome: 'failed', trigger: 'warm-up', jwksUri: ISSUER, error: { kind: 'discovery' }, nextAttemptInMs: 500 });
    expect(lines[0]).toBe(`warn JWKS fetch from ${ISSUER} failed: discovery document names another issuer; next attempt in 500 ms`);
    expect(clock.pending()).toEqual([T0 + 500]);
    await clock.advance(499);
    expect(d.requests).toHaveLength(1);
    d.fail = null;
    await clock.advance(1);
    expect(d.requests).toHaveLength(2);
    expect(idp.uris).toEqual([FOUND]);
    expect(source.getState()).toMatchObject({ phase: 'fresh', consecutiveFailures: 0 });
    await source.close();
  });

  it("honours a discovery 429's Retry-After before the first key set", async () => {
    const d = fakeDiscovery();
    d.fail = new JwksFetchError('discovery document request failed: status 429', 'status', 429, 90_000);
    const { source, clock } = await started({ d });
    expect(source.getState()).toMatchObject({ nextAttemptAt: T0 + 90_000, lastError: { status: 429 } });
    await expect(source.refresh()).rejects.toBeInstanceOf(JwksRefreshDeferredError);
    await clock.advance(89_999);
    expect(d.requests).toHaveLength(1);
    d.fail = null;
    await clock.advance(1);
    expect(d.requests).toHaveLength(2);
    expect(source.getState().kids).toEqual(['k1']);
    await source.close();
  });

  it('without a discovery function every fetch fails as discovery', async () => {
    const { source, idp } = await started({ discover: null });
    expect(idp.requests).toHaveLength(0);
    expect(source.getState().lastError).toMatchObject({ kind: 'discovery', message: 'no jwksUri configured and no discovery available' });
    await source.close();
  });

  it('a configured jwksUri is never discovered, even after a 404', async () => {
    const { source, d, idp } = await started({ withJwksUri: true });
    idp.fail = new JwksFetchError('JWKS endpoint answered 404', 'status', 404);
    await source.refresh();
    idp.fail = null;
    await source.refresh({ force: true });
    expect(d.requests).toHaveLength(0);
    expect(idp.uris).toEqual(['https://idp.test/tenant/jwks', 'https://idp.test/tenant/jwks', 'https://idp.test/tenant/jwks']);
    await source.close();
  });

  it('close() during the first discovery cancels it: signal aborted, no key request, nothing announced', async () => {
    const d = fakeDiscovery();
    d.hang = true;
    const h = build({ d });
    const warm = h.source.start();
    await flushPromises();
    expect(d.requests).toHaveLength(1);
    await h.source.close();
    expect(d.requests[0].signal?.aborted).toBe(true);
    await expect(warm).resolves.toBeUndefined();
    expect(h.idp.requests).toHaveLength(0);
    expect(h.events).toEqual([]);
    expect(h.clock.pending()).toEqual([]);
  });

  it('close() during a re-reading cancels it without falling back to the known location', async () => {
    const { source, d, idp, clock, events } = await started();
    await clock.advance(MAX_TTL);
    const before = idp.requests.length;
    d.hang = true;
    events.length = 0;
    const refreshing = source.refresh();
    await flushPromises();
    expect(d.requests).toHaveLength(2);
    await source.close();
    await refreshing;
    expect(d.requests[1].signal?.aborted).toBe(true);
    expect(idp.requests).toHaveLength(before);
    expect(events).toEqual([]);
  });
});
