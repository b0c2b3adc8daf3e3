import { generateKeyPairSync } from 'node:crypto';
import { KeySetSource, type KeySetLog } from '../../lib/cache/key-set.source';
import type { KeySetState } from '../../lib/cache/key-set.state';
import type { KeySetId, KeySetStore } from '../../lib/store/key-set.store';
import { loggingListener, type JwksAuthEvent } from '../../lib/events/jwks-auth.events';
import { resolveJwksOptions } from '../../lib/options/options.validator';
import { JwksFetchError } from '../../lib/errors/jwks.errors';
import type { JwksFetcher, JwksFetchResult } from '../../lib/fetch/jwks.fetcher';
import { FakeClock } from '../../lib/testing';

function jwk(kid: string) {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256' };
}

const options = resolveJwksOptions({
  issuer: 'https://issuer.test/',
  jwksUri: 'https://issuer.test/jwks.json',
  audience: 'api',
  algorithms: ['ES256'],
  cache: { ttlMs: 600_000, cooldownMs: 30_000, maxStaleMs: 3_600_000, refreshAheadMs: 30_000 },
});

/** A store that records saves, can hold a state to load, and pushes states through `watch`. */
function fakeStore(loaded: KeySetState | null = null) {
  const store = {
    saves: [] as KeySetState[],
    loads: 0,
    listeners: [] as ((s: KeySetState) => void)[],
    load: async () => {
      store.loads++;
      return loaded;
    },
    save: async (_id: KeySetId, s: KeySetState) => {
      store.saves.push(s);
    },
    watch: (_id: KeySetId, fn: (s: KeySetState) => void) => {
      store.listeners.push(fn);
      return () => (store.listeners = store.listeners.filter((l) => l !== fn));
    },
    push: (s: KeySetState) => store.listeners.forEach((l) => l(s)),
  };
  return store satisfies KeySetStore;
}

function fakeIdp() {
  const idp = {
    calls: 0,
    keys: [jwk('k1')] as object[],
    fail: null as JwksFetchError | null,
    notModified: false,
    fetcher: null as unknown as JwksFetcher,
  };
  idp.fetcher = async () => {
    idp.calls++;
    if (idp.fail) throw idp.fail;
    if (idp.notModified) return { kind: 'not-modified', etag: '"e"' } satisfies JwksFetchResult;
    return { kind: 'ok', jwks: JSON.stringify({ keys: idp.keys }), etag: '"e"' } satisfies JwksFetchResult;
  };
  return idp;
}

function silentLog(): KeySetLog & { lines: string[] } {
  const lines: string[] = [];
  return { lines, warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`) };
}

async function started(store = fakeStore(), idp = fakeIdp(), clock = new FakeClock()) {
  const log = silentLog();
  const events: JwksAuthEvent[] = [];
  const source = new KeySetSource({ options, clock, fetcher: idp.fetcher, store, listeners: [loggingListener(log), (e) => events.push(e)] });
  await source.start();
  return { source, store, idp, clock, log, events };
}

describe('KeySetSource', () => {
  it('persists after a good fetch and after a 304, not after a failure', async () => {
    const { source, store, idp } = await started();
    await source.close(); // waits for the pending save
    expect(store.saves).toHaveLength(1);
    expect(store.saves[0].jwks).toBe(JSON.stringify({ keys: idp.keys }));
    const again = await started(store, idp);
    idp.notModified = true;
    await again.clock.advance(1_000);
    await again.source.refresh();
    idp.fail = new JwksFetchError('down', 'status', 500);
    await again.source.refresh({ force: true });
    await again.source.close();
    expect(store.saves).toHaveLength(3); // warm-up of the second source, then the 304
    expect(store.saves[2].etag).toBe('"e"');
  });

  it('loads the store only when the warm-up found no set', async () => {
    const { source, store } = await started();
    expect(store.loads).toBe(0);
    await source.close();
    const down = fakeIdp();
    down.fail = new JwksFetchError('down', 'network');
    const { source: cold, store: coldStore } = await started(fakeStore(store.saves[0]), down);
    expect(coldStore.loads).toBe(1);
    expect(cold.getState().kids).toEqual(['k1']);
    await cold.close();
  });

  it('re-parses only when the raw set changes', async () => {
    const { source, idp } = await started();
    const [before] = await source.resolveKeys('k1', 'ES256');
    await source.refresh(); // same raw set
    const [same] = await source.resolveKeys('k1', 'ES256');
    expect(same).toBe(before); // the same parsed key object, not a re-parse
    idp.keys = [...idp.keys, jwk('k2')];
    await source.refresh();
    const [after] = await source.resolveKeys('k1', 'ES256');
    expect(after).not.toBe(before);
    await source.close();
  });

  it('applies a state pushed through watch: new kids verify, removed kids stop, without a fetch', async () => {
    const { source, store, idp, clock } = await started();
    const calls = idp.calls;
    const pushed: KeySetState = {
      ...source.keySetState(),
      jwks: JSON.stringify({ keys: [jwk('k2')] }),
      fetchedAt: clock.now(),
      freshUntil: clock.now() + 600_000,
    };
    store.push(pushed);
    expect(source.peekKeys('k2', 'ES256')).toHaveLength(1);
    expect(source.peekKeys('k1', 'ES256')).toBeUndefined();
    await expect(source.resolveKeys('k2', 'ES256')).resolves.toHaveLength(1);
    expect(idp.calls).toBe(calls);
    expect(source.keySetState()).toBe(pushed);
    await source.close();
    expect(store.saves).toHaveLength(1); // a pushed state is not saved back
    expect(store.listeners).toHaveLength(0); // close() unsubscribes
  });

  it('applies a pushed revocation, and ignores a pushed set that does not parse', async () => {
    const { source, store, log } = await started();
    store.push({ ...source.keySetState(), revokedKids: ['k1'] });
    await expect(source.resolveKeys('k1', 'ES256')).rejects.toThrow('revoked');
    const held = source.keySetState();
    store.push({ ...held, jwks: '{"keys": 5}' });
    expect(source.keySetState()).toBe(held);
    expect(log.lines.some((l) => l.includes('pushed key set is not usable'))).toBe(true);
    await source.close();
  });
});

describe('JWKS_STORE', () => {
  it('is the snapshot file with cache.snapshotPath, memory without, and can be overridden', async () => {
    const { Test } = await import('@nestjs/testing');
    const { JwksAuthModule, JWKS_STORE, JWKS_FETCHER, MemoryKeySetStore, SnapshotFileKeySetStore } = await import('../../lib');
    const base = { issuer: 'https://issuer.test/', jwksUri: 'https://issuer.test/jwks.json', audience: 'api' };
    const storeOf = async (extra: object, store?: KeySetStore) => {
      let b = Test.createTestingModule({ imports: [JwksAuthModule.forRoot({ ...base, ...extra })] }).overrideProvider(JWKS_FETCHER).useValue(fakeIdp().fetcher);
      if (store) b = b.overrideProvider(JWKS_STORE).useValue(store);
      const ref = await b.compile();
      ref.useLogger(false);
      await ref.init();
      const got = ref.get<KeySetStore>(JWKS_STORE);
      await ref.close();
      return got;
    };
    expect(await storeOf({})).toBeInstanceOf(MemoryKeySetStore);
    expect(await storeOf({ cache: { snapshotPath: '/nonexistent-dir/jwks.json' } })).toBeInstanceOf(SnapshotFileKeySetStore);
    const mine = fakeStore();
    expect(await storeOf({ algorithms: ['ES256'] }, mine)).toBe(mine);
    expect(mine.saves).toHaveLength(1); // the warm-up's set went to the store provided
  });
});

describe('KeySetSource events', () => {
  it('emits fetch-finished with trigger, outcome, status and duration, and key-set-changed with the kids', async () => {
    const { source, idp, clock, events } = await started();
    expect(events).toContainEqual(expect.objectContaining({ type: 'fetch-finished', trigger: 'warm-up', outcome: 'ok', status: 200, durationMs: 0 }));
    expect(events).toContainEqual(expect.objectContaining({ type: 'key-set-changed', origin: 'fetch', kidsAdded: ['k1'], kidsRemoved: [], keyCount: 1 }));
    events.length = 0;
    idp.keys = [jwk('k2')];
    await clock.advance(1_000);
    await source.refresh();
    expect(events).toEqual([
      expect.objectContaining({ type: 'key-set-changed', kidsAdded: ['k2'], kidsRemoved: ['k1'] }),
      expect.objectContaining({ type: 'fetch-finished', trigger: 'manual', outcome: 'ok' }),
    ]);
    events.length = 0;
    await source.refresh(); // same raw set: no change event
    expect(events.map((e) => e.type)).toEqual(['fetch-finished']);
    await source.close();
  });

  it('emits a failed fetch with its status and next attempt, and the stale set being served', async () => {
    const { source, idp, events, log } = await started();
    idp.fail = new JwksFetchError('down', 'status', 500);
    await source.refresh();
    const failed = events.find((e) => e.type === 'fetch-finished' && e.outcome === 'failed');
    expect(failed).toMatchObject({ trigger: 'manual', status: 500, error: { kind: 'status' } });
    expect(events).toContainEqual(expect.objectContaining({ type: 'stale-served', reason: 'fetch-failed' }));
    expect(log.lines).toContainEqual(expect.stringMatching(/^warn JWKS fetch from https:\/\/issuer\.test\/jwks\.json failed: down; next attempt in \d+ ms$/));
    await source.close();
  });

  it('emits unknown-kid and refetch-refused inside the cooldown, never the kid', async () => {
    const { source, events } = await started();
    await expect(source.resolveKeys('nope-1', 'ES256')).rejects.toThrow();
    await expect(source.resolveKeys('nope-2', 'ES256')).rejects.toThrow();
    expect(events.filter((e) => e.type === 'unknown-kid')).toHaveLength(2);
    expect(events).toContainEqual(expect.objectContaining({ type: 'refetch-refused', reason: 'cooldown' }));
    expect(JSON.stringify(events.filter((e) => e.type !== 'key-set-changed'))).not.toContain('nope');
    await source.close();
  });

  it('emits revoked and restored with the kid; the logging listener prints only its fingerprint', async () => {
    const { source, events, log } = await started();
    source.revokeKey('k1');
    source.restoreKey('k1');
    expect(events).toContainEqual(expect.objectContaining({ type: 'key-revoked', kid: 'k1' }));
    expect(events).toContainEqual(expect.objectContaining({ type: 'key-restored', kid: 'k1' }));
    expect(log.lines).toEqual([
      expect.stringMatching(/^warn JWKS: key kid#[\w-]{10} revoked by the operator: its tokens are refused until restoreKey\(\)$/),
      expect.stringMatching(/^warn JWKS: key kid#[\w-]{10} restored by the operator$/),
    ]);
    expect(log.lines.join('\n')).not.toMatch(/\bk1\b/);
    await source.close();
  });

  it('a throwing listener does not break the key set', async () => {
    const clock = new FakeClock();
    const source = new KeySetSource({ options, clock, fetcher: fakeIdp().fetcher, store: fakeStore(), listeners: [() => { throw new Error('sink down'); }] });
    await source.start();
    await expect(source.resolveKeys('k1', 'ES256')).resolves.toHaveLength(1);
    await source.close();
  });
});

describe('JWKS_EVENT_LISTENERS', () => {
  it('receives the key set events of a module that provides it', async () => {
    const { Test } = await import('@nestjs/testing');
    const { JwksAuthModule, JWKS_EVENT_LISTENERS, JWKS_FETCHER } = await import('../../lib');
    const seen: JwksAuthEvent[] = [];
    const ref = await Test.createTestingModule({
      imports: [JwksAuthModule.forRoot({ issuer: 'https://issuer.test/', jwksUri: 'https://issuer.test/jwks.json?secret=1', audience: 'api', algorithms: ['ES256'] })],
    })
      .overrideProvider(JWKS_FETCHER)
      .useValue(fakeIdp().fetcher)
      .overrideProvider(JWKS_EVENT_LISTENERS)
      .useValue([(e: JwksAuthEvent) => seen.push(e)])
      .compile();
    ref.useLogger(false);
    await ref.init();
    await ref.close();
    expect(seen).toContainEqual(expect.objectContaining({ type: 'fetch-finished', trigger: 'warm-up', outcome: 'ok', jwksUri: 'https://issuer.test/jwks.json' }));
  });
});
