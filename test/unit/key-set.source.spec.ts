import { generateKeyPairSync } from 'node:crypto';
import { KeySetSource, type KeySetLog } from '../../lib/cache/key-set.source';
import type { KeySetState } from '../../lib/cache/key-set.state';
import type { KeySetStore } from '../../lib/store/key-set.store';
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
    save: async (s: KeySetState) => {
      store.saves.push(s);
    },
    watch: (fn: (s: KeySetState) => void) => {
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
  const source = new KeySetSource({ options, clock, fetcher: idp.fetcher, store, log });
  await source.start();
  return { source, store, idp, clock, log };
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
