import { generateKeyPairSync } from 'node:crypto';
import { KeySetSource } from '../../lib/cache/key-set.source';
import { initialKeySetState, type KeySetState } from '../../lib/cache/key-set.state';
import type { KeySetId, KeySetStore } from '../../lib/store/key-set.store';
import type { JwksAuthEvent } from '../../lib/events/jwks-auth.events';
import { resolveJwksOptions } from '../../lib/options/options.validator';
import { JwksArgumentError, JwksFetchError, JwksRefreshDeferredError } from '../../lib/errors/jwks.errors';
import type { JwksFetcher, JwksFetchRequest, JwksFetchResult } from '../../lib/fetch/jwks.fetcher';
import { FakeClock, flushPromises } from '../../lib/testing';

/*
 * Every path that changes a key set's state goes through `commit()`; these specs watch each one
 * from outside: what the store is given, which events listeners get (each with its issuer), and
 * where the single background timer is re-armed on the fake clock.
 */

const ISSUER = 'https://issuer.test/';
const JWKS_URI = 'https://issuer.test/jwks.json';
const T0 = 1_700_000_000_000;
const TTL = 600_000;
const AHEAD = 30_000;
/** With `random() = 0.5`: refresh-ahead lands at freshUntil - AHEAD + AHEAD/4; the first backoffs are 500 ms, then 1 s. */
const REFRESH_AFTER = TTL - AHEAD + AHEAD / 4;

function jwk(kid: string) {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256' };
}

const K1 = jwk('k1');
const K2 = jwk('k2');
const setOf = (...keys: object[]) => JSON.stringify({ keys });

function optionsFor(issuer = ISSUER, jwksUri = JWKS_URI) {
  return resolveJwksOptions({
    issuer,
    jwksUri,
    audience: 'api',
    algorithms: ['ES256'],
    cache: { ttlMs: TTL, cooldownMs: 30_000, maxStaleMs: 3_600_000, refreshAheadMs: AHEAD },
  });
}

/** A store that records every save with its id, serves one state (or a failure) to `load`, and pushes through `watch`. */
function fakeStore(loaded: KeySetState | null | (() => Promise<KeySetState | null>) = null) {
  const store = {
    saves: [] as { id: KeySetId; state: KeySetState }[],
    loads: [] as KeySetId[],
    listeners: [] as ((s: KeySetState) => void)[],
    /** When set, each save waits for it. */
    saveGate: null as Promise<void> | null,
    load: async (id: KeySetId) => {
      store.loads.push(id);
      return typeof loaded === 'function' ? loaded() : loaded;
    },
    save: async (id: KeySetId, state: KeySetState) => {
      if (store.saveGate) await store.saveGate;
      store.saves.push({ id, state });
    },
    watch: (_id: KeySetId, fn: (s: KeySetState) => void) => {
      store.listeners.push(fn);
      return () => (store.listeners = store.listeners.filter((l) => l !== fn));
    },
    push: (s: KeySetState) => store.listeners.forEach((l) => l(s)),
  };
  return store satisfies KeySetStore;
}

interface FakeIdp {
  requests: JwksFetchRequest[];
  keys: object[];
  fail: Error | null;
  notModified: boolean;
  etag: string;
  gate: Promise<void> | null;
  readonly calls: number;
  fetcher: JwksFetcher;
}

/** A fake IdP: answers from a mutable set, or fails, or answers 304, or hangs until released or aborted. */
function fakeIdp(): FakeIdp {
  const idp: FakeIdp = {
    requests: [] as JwksFetchRequest[],
    keys: [K1] as object[],
    fail: null as Error | null,
    notModified: false,
    etag: '"e"',
    gate: null as Promise<void> | null,
    get calls() {
      return idp.requests.length;
    },
    fetcher: (async (request) => {
      idp.requests.push(request);
      if (idp.gate) {
        await Promise.race([
          idp.gate,
          new Promise((_, reject) => request.signal?.addEventListener('abort', () => reject(new JwksFetchError('JWKS fetch cancelled', 'network')))),
        ]);
      }
      if (idp.fail) throw idp.fail;
      if (idp.notModified) return { kind: 'not-modified', etag: idp.etag } satisfies JwksFetchResult;
      return { kind: 'ok', jwks: setOf(...idp.keys), etag: idp.etag } satisfies JwksFetchResult;
    }) as JwksFetcher,
  };
  return idp;
}

function gate(): { promise: Promise<void>; release: () => void } {
  let release!: () => void;
  const promise = new Promise<void>((r) => (release = r));
  return { promise, release };
}

/** Every event listeners received, per test, checked in afterEach to carry its source's issuer. */
let delivered: { issuer: string; event: JwksAuthEvent }[] = [];

function build(opts: { store?: ReturnType<typeof fakeStore>; idp?: ReturnType<typeof fakeIdp>; issuer?: string; jwksUri?: string; clock?: FakeClock } = {}) {
  const store = opts.store ?? fakeStore();
  const idp = opts.idp ?? fakeIdp();
  const clock = opts.clock ?? new FakeClock(T0, { random: () => 0.5 });
  const options = optionsFor(opts.issuer, opts.jwksUri);
  const events: JwksAuthEvent[] = [];
  const issuer = options.issuers[0].issuer;
  const source = new KeySetSource({
    options,
    clock,
    fetcher: idp.fetcher,
    store,
    listeners: [
      (e) => {
        events.push(e);
        delivered.push({ issuer, event: e });
      },
    ],
  });
  return { source, store, idp, clock, events };
}

async function started(opts: Parameters<typeof build>[0] = {}) {
  const h = build(opts);
  await h.source.start();
  await flushPromises(); // the save runs off the request path
  return h;
}

const types = (events: JwksAuthEvent[]) => events.map((e) => e.type);

beforeEach(() => {
  delivered = [];
});

afterEach(() => {
  // Every event any source raised in the test named that source's issuer.
  expect(delivered.filter((d) => d.event.issuer !== d.issuer)).toEqual([]);
});

describe('KeySetSource commit: warm-up', () => {
  it('saves a good warm-up under its id, announces it and arms the refresh ahead of expiry', async () => {
    const { source, store, idp, clock, events } = await started();
    expect(store.saves).toHaveLength(1);
    expect(store.saves[0].id).toEqual({ issuer: ISSUER, jwksUri: JWKS_URI });
    expect(store.saves[0].state).toMatchObject({ jwks: setOf(K1), fetchedAt: T0, etag: '"e"', freshUntil: T0 + TTL, failures: 0 });
    expect(types(events)).toEqual(['key-set-changed', 'fetch-finished']);
    expect(events[0]).toMatchObject({ origin: 'fetch', kidsAdded: ['k1'], kidsRemoved: [], issuer: ISSUER, jwksUri: JWKS_URI });
    expect(events[1]).toMatchObject({ trigger: 'warm-up', outcome: 'ok', issuer: ISSUER });
    // One timer, at the refresh-ahead point (the warm-up timeout's timer is gone).
    expect(source.getState().nextRefreshAt).toBe(T0 + REFRESH_AFTER);
    expect(clock.pending()).toEqual([T0 + REFRESH_AFTER]);
    await clock.advance(REFRESH_AFTER - 1);
    expect(idp.calls).toBe(1);
    await clock.advance(1);
    expect(idp.calls).toBe(2);
    expect(events.at(-1)).toMatchObject({ type: 'fetch-finished', trigger: 'background', outcome: 'ok' });
    expect(clock.pending()).toEqual([T0 + REFRESH_AFTER + REFRESH_AFTER]);
    await source.close();
  });

  it('a failed warm-up saves nothing, keeps no set and retries within unavailableRetryMaxMs', async () => {
    const idp = fakeIdp();
    idp.fail = new JwksFetchError('down', 'network');
    const { source, store, clock, events } = await started({ idp });
    expect(store.saves).toHaveLength(0);
    expect(store.loads).toEqual([{ issuer: ISSUER, jwksUri: JWKS_URI }]);
    expect(source.getState()).toMatchObject({ phase: 'empty', consecutiveFailures: 1, lastError: { kind: 'network', at: T0 }, nextAttemptAt: T0 + 500 });
    expect(types(events)).toEqual(['fetch-finished', 'warm-up-failed']);
    expect(events[0]).toMatchObject({ outcome: 'failed', nextAttemptInMs: 500 });
    expect(clock.pending()).toEqual([T0 + 500]);
    idp.fail = null;
    await clock.advance(500);
    expect(idp.calls).toBe(2);
    expect(source.getState()).toMatchObject({ phase: 'fresh', consecutiveFailures: 0, lastError: null, kids: ['k1'] });
    await flushPromises();
    expect(store.saves).toHaveLength(1);
    await source.close();
  });
});

describe('KeySetSource commit: 304', () => {
  it('moves fetchedAt and freshness, takes the new etag, saves, counts and re-arms the timer', async () => {
    const { source, store, idp, clock, events } = await started();
    const [key] = source.peekKeys('k1', 'ES256') ?? [];
    await clock.advance(100_000);
    events.length = 0;
    idp.notModified = true;
    idp.etag = '"e2"';
    await source.refresh();
    await flushPromises();
    expect(idp.requests[1].etag).toBe('"e"'); // asked conditionally, with the held set's etag
    expect(source.keySetState()).toMatchObject({ jwks: setOf(K1), fetchedAt: T0 + 100_000, freshUntil: T0 + 100_000 + TTL, etag: '"e2"' });
    expect(source.getState()).toMatchObject({ fetchCount: 2, notModifiedCount: 1 });
    expect(store.saves.map((s) => s.state.fetchedAt)).toEqual([T0, T0 + 100_000]);
    expect(events).toEqual([expect.objectContaining({ type: 'fetch-finished', trigger: 'manual', outcome: 'not-modified', status: 304, issuer: ISSUER })]);
    expect(source.peekKeys('k1', 'ES256')?.[0]).toBe(key); // nothing re-parsed
    expect(clock.pending()).toEqual([T0 + 100_000 + REFRESH_AFTER]);
    await source.close();
  });

  it('a 304 while no set is held is a failed fetch with backoff, not a refetch at once', async () => {
    // Only a set we hold can be "not modified": a fetcher answering 304 to a request without an
    // etag (a custom one) must not leave the timer at "now", which would refetch in a tight loop.
    const idp = fakeIdp();
    idp.notModified = true;
    const { source, store, clock, events } = await started({ idp });
    expect(source.getState()).toMatchObject({ phase: 'empty', consecutiveFailures: 1, lastError: { kind: 'status', status: 304 } });
    expect(clock.pending()).toEqual([T0 + 500]);
    expect(events[0]).toMatchObject({ type: 'fetch-finished', outcome: 'failed', status: 304 });
    await clock.advance(499);
    expect(idp.calls).toBe(1);
    expect(store.saves).toHaveLength(0);
    await source.close();
  });
});

describe('KeySetSource commit: failures, backoff and Retry-After', () => {
  it('a failure keeps serving the set, saves nothing, records the error and re-arms at the backoff', async () => {
    const { source, store, idp, clock, events } = await started();
    const [key] = source.peekKeys('k1', 'ES256') ?? [];
    await clock.advance(100_000);
    events.length = 0;
    idp.fail = new JwksFetchError('down', 'status', 500);
    await source.refresh();
    expect(source.getState()).toMatchObject({
      consecutiveFailures: 1,
      lastError: { code: 'ERR_JWKS_FETCH', kind: 'status', status: 500, message: 'down', at: T0 + 100_000 },
      nextAttemptAt: T0 + 100_500,
      kids: ['k1'],
    });
    expect(source.isKeyCurrent(key)).toBe(true);
    expect(types(events)).toEqual(['fetch-finished', 'stale-served']);
    expect(events[0]).toMatchObject({ outcome: 'failed', status: 500, nextAttemptInMs: 500 });
    expect(clock.pending()).toEqual([T0 + 100_500]);
    await clock.advance(500); // the retry fails too: the backoff doubles
    expect(idp.calls).toBe(3);
    expect(source.getState()).toMatchObject({ consecutiveFailures: 2, nextAttemptAt: T0 + 101_500 });
    expect(clock.pending()).toEqual([T0 + 101_500]);
    idp.fail = null;
    await clock.advance(1_000);
    await flushPromises();
    expect(source.getState()).toMatchObject({ consecutiveFailures: 0, lastError: null, nextAttemptAt: null, fetchedAt: T0 + 101_500 });
    expect(store.saves.map((s) => s.state.fetchedAt)).toEqual([T0, T0 + 101_500]);
    expect(clock.pending()).toEqual([T0 + 101_500 + REFRESH_AFTER]);
    await source.close();
  });

  it.each([429, 503])('honours Retry-After on a %i: no request before it, not even refresh() unless forced', async (status) => {
    const { source, idp, clock } = await started();
    idp.fail = new JwksFetchError('slow down', 'status', status, 120_000);
    await source.refresh();
    expect(source.getState().nextAttemptAt).toBe(T0 + 120_000);
    expect(clock.pending()).toEqual([T0 + 120_000]);
    const deferred = await source.refresh().catch((e: unknown) => e);
    expect(deferred).toBeInstanceOf(JwksRefreshDeferredError);
    expect((deferred as JwksRefreshDeferredError).retryAfterMs).toBe(120_000);
    await clock.advance(119_999);
    expect(idp.calls).toBe(2);
    idp.fail = null;
    await clock.advance(1);
    expect(idp.calls).toBe(3);
    expect(source.getState()).toMatchObject({ consecutiveFailures: 0, nextAttemptAt: null });
    await source.close();
  });

  it('ignores Retry-After on other statuses and caps it at maxRetryAfterMs', async () => {
    const { source, idp } = await started();
    idp.fail = new JwksFetchError('broken', 'status', 500, 120_000);
    await source.refresh();
    expect(source.getState().nextAttemptAt).toBe(T0 + 500);
    idp.fail = new JwksFetchError('slow down', 'status', 429, 24 * 3_600_000);
    await source.refresh({ force: true });
    expect(source.getState().nextAttemptAt).toBe(T0 + 600_000); // maxRetryAfterMs default: 10 min
    await source.close();
  });
});

describe('KeySetSource commit: refresh', () => {
  it('fetches now, bypassing the cooldown; inside a backoff it defers unless forced', async () => {
    const { source, store, idp, clock, events } = await started();
    await clock.advance(1_000);
    idp.keys = [K1, K2];
    const state = await source.refresh();
    expect(state).toMatchObject({ fetchedAt: T0 + 1_000, kids: ['k1', 'k2'] });
    expect(events.at(-1)).toMatchObject({ type: 'fetch-finished', trigger: 'manual', outcome: 'ok' });
    idp.fail = new JwksFetchError('down', 'status', 500);
    await source.refresh();
    const calls = idp.calls;
    await expect(source.refresh()).rejects.toBeInstanceOf(JwksRefreshDeferredError);
    expect(idp.calls).toBe(calls);
    idp.fail = null;
    await clock.advance(100); // still inside the backoff (T0 + 1_500)
    await expect(source.refresh({ force: true })).resolves.toMatchObject({ consecutiveFailures: 0, nextAttemptAt: null });
    expect(idp.calls).toBe(calls + 1);
    await expect(source.refresh(42 as never)).rejects.toBeInstanceOf(JwksArgumentError);
    await flushPromises();
    expect(store.saves.map((s) => s.state.fetchedAt)).toEqual([T0, T0 + 1_000, T0 + 1_100]);
    await source.close();
  });
});

describe('KeySetSource commit: invalidate', () => {
  it('stops serving from memory, saves nothing, and re-arms the timer to revalidate at once', async () => {
    const { source, store, idp, clock, events } = await started();
    const [key] = source.peekKeys('k1', 'ES256') ?? [];
    await clock.advance(1_000);
    events.length = 0;
    source.invalidate();
    expect(source.keySetState()).toMatchObject({ mustRevalidate: true, freshUntil: T0 + 1_000, fetchedAt: T0 });
    expect(source.getState().fresh).toBe(false);
    expect(source.peekKeys('k1', 'ES256')).toBeUndefined();
    expect(source.isKeyCurrent(key)).toBe(false);
    expect(clock.pending()).toEqual([T0 + 1_000]);
    await flushPromises();
    expect(store.saves).toHaveLength(1);
    expect(events).toEqual([]);
    await clock.advance(0); // the background fetch it armed answers the invalidation
    expect(idp.calls).toBe(2);
    expect(source.keySetState().mustRevalidate).toBe(false);
    expect(source.peekKeys('k1', 'ES256')?.[0]).toBe(key); // the same raw set: the same parsed key
    await flushPromises();
    expect(store.saves).toHaveLength(2);
    await source.close();
  });

  it('does not pull the timer before a Retry-After, and changes nothing while no set is held', async () => {
    const { source, idp, clock } = await started();
    idp.fail = new JwksFetchError('slow down', 'status', 429, 60_000);
    await source.refresh();
    source.invalidate();
    expect(clock.pending()).toEqual([T0 + 60_000]);
    await source.close();

    const down = fakeIdp();
    down.fail = new JwksFetchError('down', 'network');
    const empty = await started({ idp: down });
    const before = empty.source.keySetState();
    empty.source.invalidate();
    expect(empty.source.keySetState()).toBe(before);
    await empty.source.close();
  });
});

describe('KeySetSource commit: revokeKey and restoreKey', () => {
  it('revocation refuses the kid at once and survives a refetch; restoring brings back the same key', async () => {
    const { source, store, idp, events } = await started();
    const [key] = source.peekKeys('k1', 'ES256') ?? [];
    events.length = 0;
    source.revokeKey('k1');
    expect(source.keySetState().revokedKids).toEqual(['k1']);
    expect(source.peekKeys('k1', 'ES256')).toBeUndefined();
    expect(source.isKeyCurrent(key)).toBe(false);
    expect(source.getState()).toMatchObject({ kids: [], revokedKids: ['k1'], keyCount: 0 });
    await flushPromises();
    expect(store.saves).toHaveLength(1); // nothing fetched: nothing saved
    idp.keys = [K1, K2];
    await source.refresh();
    expect(source.peekKeys('k1', 'ES256')).toBeUndefined();
    expect(source.peekKeys('k2', 'ES256')).toHaveLength(1);
    const [again] = source.peekKeys('k2', 'ES256') ?? [];
    source.restoreKey('k1');
    expect(source.keySetState().revokedKids).toEqual([]);
    expect(source.peekKeys('k1', 'ES256')).toHaveLength(1);
    expect(source.peekKeys('k2', 'ES256')?.[0]).toBe(again); // restoring re-filters, it does not re-parse
    const held = source.keySetState();
    source.restoreKey('k1'); // not revoked: nothing changes, nothing is announced
    expect(source.keySetState()).toBe(held);
    expect(types(events).filter((t) => t.startsWith('key-re'))).toEqual(['key-revoked', 'key-restored']);
    expect(events.find((e) => e.type === 'key-revoked')).toMatchObject({ kid: 'k1', issuer: ISSUER });
    await source.close();
  });
});

describe('KeySetSource commit: snapshot restore (store.load)', () => {
  const stored = (over: Partial<KeySetState> = {}): KeySetState => ({
    ...initialKeySetState(),
    jwks: setOf(K1),
    fetchedAt: T0 - 60_000,
    etag: '"s"',
    freshUntil: T0 - 60_000 + TTL,
    failures: 7,
    revokedKids: ['k9'],
    ...over,
  });
  const down = () => {
    const idp = fakeIdp();
    idp.fail = new JwksFetchError('down', 'network');
    return idp;
  };

  it('restores the set (not its failures or revocations), is not saved back, and retries at the backoff', async () => {
    const idp = down();
    const { source, store, clock, events } = await started({ store: fakeStore(stored()), idp });
    expect(store.loads).toEqual([{ issuer: ISSUER, jwksUri: JWKS_URI }]);
    expect(source.keySetState()).toMatchObject({ jwks: setOf(K1), fetchedAt: T0 - 60_000, etag: '"s"', freshUntil: T0 - 60_000 + TTL, failures: 1, revokedKids: [] });
    expect(source.getState()).toMatchObject({ phase: 'fresh', kids: ['k1'], lastError: { kind: 'network' } });
    expect(types(events)).toEqual(['fetch-finished', 'key-set-changed', 'store-restored']);
    expect(events[1]).toMatchObject({ origin: 'store', kidsAdded: ['k1'] });
    expect(events[2]).toMatchObject({ keyCount: 1, ageMs: 60_000, issuer: ISSUER });
    expect(clock.pending()).toEqual([T0 + 500]);
    await flushPromises();
    expect(store.saves).toHaveLength(0);
    idp.fail = null;
    idp.keys = [K2];
    await clock.advance(500);
    await flushPromises();
    expect(idp.requests[1].etag).toBe('"s"'); // revalidated against the restored set
    expect(source.getState().kids).toEqual(['k2']);
    expect(store.saves).toHaveLength(1);
    await source.close();
  });

  it.each([
    ['older than maxStaleMs', stored({ freshUntil: T0 - 3_600_000 }), 'older-than-max-stale'],
    ['whose set does not parse', stored({ jwks: '{"keys": 5}' }), 'unusable-key-set'],
  ])('does not use a stored state %s', async (_what, state, reason) => {
    const { source, events } = await started({ store: fakeStore(state), idp: down() });
    expect(source.keySetState().jwks).toBeNull();
    expect(events).toContainEqual(expect.objectContaining({ type: 'store-not-used', reason, issuer: ISSUER }));
    expect(types(events)).not.toContain('store-restored');
    await source.close();
  });

  it('a store that fails to load is no set, not a crash', async () => {
    const { source, events } = await started({ store: fakeStore(() => Promise.reject(new Error('disk gone'))), idp: down() });
    expect(source.getState().phase).toBe('empty');
    expect(types(events)).toEqual(['fetch-finished', 'warm-up-failed']);
    await source.close();
  });

  it('a fetch that answers while the store is read beats the stored set', async () => {
    const load = gate();
    const store = fakeStore(async () => {
      await load.promise;
      return stored();
    });
    const idp = fakeIdp();
    const slow = gate();
    idp.gate = slow.promise;
    idp.keys = [K2];
    const h = build({ store, idp });
    const warm = h.source.start();
    await h.clock.advance(3_000); // warmupTimeoutMs: startup turns to the store
    expect(store.loads).toHaveLength(1);
    slow.release();
    await flushPromises();
    load.release();
    await warm;
    expect(h.source.getState().kids).toEqual(['k2']);
    expect(types(h.events)).not.toContain('store-restored');
    await h.source.close();
  });
});

describe('KeySetSource commit: a state pushed through watch (applyStored)', () => {
  it('becomes the state, announced as origin watch, re-arms the timer from its freshness, and is not saved back', async () => {
    const { source, store, idp, clock, events } = await started();
    await clock.advance(1_000);
    events.length = 0;
    const pushed: KeySetState = { ...source.keySetState(), jwks: setOf(K1, K2), fetchedAt: T0 + 1_000, freshUntil: T0 + 1_000 + 2 * TTL };
    store.push(pushed);
    expect(source.keySetState()).toBe(pushed);
    expect(events).toEqual([expect.objectContaining({ type: 'key-set-changed', origin: 'watch', kidsAdded: ['k2'], kidsRemoved: [], keyCount: 2, issuer: ISSUER })]);
    expect(clock.pending()).toEqual([T0 + 1_000 + 2 * TTL - AHEAD + AHEAD / 4]);
    await flushPromises();
    expect(store.saves).toHaveLength(1);
    expect(idp.calls).toBe(1);
    await source.close();
  });

  it('ignores a pushed set that does not parse: state, keys and timer unchanged, store-not-used announced', async () => {
    const { source, store, clock, events } = await started();
    const held = source.keySetState();
    const [key] = source.peekKeys('k1', 'ES256') ?? [];
    const timers = clock.pending();
    events.length = 0;
    store.push({ ...held, jwks: '{"keys": 5}', fetchedAt: T0 + 1, freshUntil: T0 + 2 * TTL });
    expect(source.keySetState()).toBe(held);
    expect(source.peekKeys('k1', 'ES256')?.[0]).toBe(key);
    expect(clock.pending()).toEqual(timers);
    expect(events).toEqual([expect.objectContaining({ type: 'store-not-used', reason: 'unusable-pushed-set', issuer: ISSUER })]);
    await source.close();
  });
});

describe('KeySetSource commit: close', () => {
  it('clears the timer, stops listening and ignores later pushes; its keys stop being current', async () => {
    const { source, store, idp, clock } = await started();
    const [key] = source.peekKeys('k1', 'ES256') ?? [];
    await source.close();
    expect(clock.pending()).toEqual([]);
    expect(store.listeners).toHaveLength(0);
    const held = source.keySetState();
    source.applyStored({ ...held, jwks: setOf(K2), fetchedAt: T0 + 1 });
    expect(source.keySetState()).toBe(held);
    expect(source.isKeyCurrent(key)).toBe(false);
    await clock.advance(10 * TTL);
    expect(idp.calls).toBe(1);
  });

  it('cancels a fetch in flight: its signal is aborted and nothing is recorded or re-armed', async () => {
    const { source, idp, clock, events } = await started();
    const held = source.keySetState();
    idp.gate = new Promise(() => {});
    const refreshing = source.refresh();
    await flushPromises();
    events.length = 0;
    await source.close();
    await refreshing;
    expect(idp.requests[1].signal?.aborted).toBe(true);
    expect(source.keySetState()).toMatchObject({ ...held, lastAttemptAt: T0 });
    expect(source.getState()).toMatchObject({ consecutiveFailures: 0, lastError: null, fetching: false });
    expect(events).toEqual([]);
    expect(clock.pending()).toEqual([]);
  });

  it('waits for a pending save', async () => {
    const store = fakeStore();
    const save = gate();
    store.saveGate = save.promise;
    const h = build({ store });
    await h.source.start();
    let closed = false;
    const closing = h.source.close().then(() => (closed = true));
    await flushPromises();
    expect(closed).toBe(false);
    save.release();
    await closing;
    expect(store.saves).toHaveLength(1);
  });

  it('during the warm-up: start() neither fails nor announces a failed warm-up', async () => {
    const idp = fakeIdp();
    idp.gate = new Promise(() => {});
    const h = build({ idp });
    const warm = h.source.start();
    await flushPromises();
    await h.source.close();
    await expect(warm).resolves.toBeUndefined();
    expect(h.events).toEqual([]);
    expect(h.clock.pending()).toEqual([]);
  });
});

describe('KeySetSource events carry their issuer', () => {
  it('two sources on one listener: each event names the issuer of the source that raised it', async () => {
    const seen: JwksAuthEvent[] = [];
    const clock = new FakeClock(T0, { random: () => 0.5 });
    const make = (issuer: string, jwksUri: string, idp: ReturnType<typeof fakeIdp>) =>
      new KeySetSource({ options: optionsFor(issuer, jwksUri), clock, fetcher: idp.fetcher, store: fakeStore(), listeners: [(e) => seen.push(e)] });
    const goodIdp = fakeIdp();
    const badIdp = fakeIdp();
    badIdp.fail = new JwksFetchError('down', 'network');
    const a = make('https://a.test/', 'https://a.test/jwks', goodIdp);
    const b = make('https://b.test/', 'https://b.test/jwks', badIdp);
    await Promise.all([a.start(), b.start()]);
    a.revokeKey('k1');
    await expect(a.resolveKeys('nope', 'ES256')).rejects.toThrow();
    await Promise.all([a.close(), b.close()]);
    expect(new Set(types(seen))).toEqual(new Set(['key-set-changed', 'fetch-finished', 'warm-up-failed', 'key-revoked', 'unknown-kid']));
    for (const e of seen) expect(e.issuer).toBe('jwksUri' in e && e.jwksUri.startsWith('https://a.test/') ? 'https://a.test/' : 'https://b.test/');
    expect(seen.filter((e) => e.issuer === 'https://b.test/').map((e) => e.type)).toEqual(['fetch-finished', 'warm-up-failed']);
  });
});
