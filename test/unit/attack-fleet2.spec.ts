import { generateKeyPairSync } from 'node:crypto';
import { KeySetSource } from '../../lib/cache/key-set.source';
import { resolveJwksOptions } from '../../lib/options/options.validator';
import { JwksArgumentError, KeyNotFoundError, KeyRevokedError } from '../../lib/errors/jwks.errors';
import type { JwksFetcher } from '../../lib/fetch/jwks.fetcher';
import { FLEET_DEFAULTS, JWKS_DEFAULTS } from '../../lib/jwks-auth.constants';
import { checkKeySetState } from '../../lib/store/key-set-state.validator';
import { MemoryKeySetStore } from '../../lib/store/memory-key-set.store';
import { FakeClock } from '../../lib/testing';
import { MemoryFleet } from '../fixtures/memory-fleet.store';

/**
 * Second attack round on fleet mode, on fake clocks with the in-memory fleet: shared values that
 * pass the state validator yet keep an invalidation open, an invalidation answered by a fetch that
 * started before it, operator calls racing across processes, clocks that disagree, and what a
 * process keeps while Redis is away.
 */
function jwk(kid: string) {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256' };
}

const BASE = { issuer: 'https://issuer.test/', jwksUri: 'https://issuer.test/jwks.json', audience: 'api', algorithms: ['ES256'] };
const options = resolveJwksOptions({ ...BASE, cache: { ttlMs: 600_000, cooldownMs: 30_000, maxStaleMs: 3_600_000, refreshAheadMs: 30_000 }, fetch: { timeoutMs: 1_000 } });
const ID = { issuer: BASE.issuer, jwksUri: BASE.jwksUri };
const T0 = 1_700_000_000_000;
const LIMITS = { maxKeys: options.fetch.maxKeys, maxRevokedKids: JWKS_DEFAULTS.maxRevokedKids };

/**
 * One IdP: counts requests; the answer is the key list at the moment the request reaches it (a
 * slow network then delays it by `gate`), as a real response is produced before it travels.
 */
function fakeIdp() {
  const idp = { calls: 0, keys: [jwk('k1')] as object[], gate: null as Promise<void> | null, fetcher: null as unknown as JwksFetcher };
  idp.fetcher = async () => {
    idp.calls++;
    const body = JSON.stringify({ keys: idp.keys });
    if (idp.gate) await idp.gate;
    return { kind: 'ok', jwks: body, etag: null };
  };
  return idp;
}

/** A fleet of processes; each may have its own clock (hosts whose clocks differ). The fleet's leases run on the first. */
function fleetOf(clocks: FakeClock[], idp = fakeIdp()) {
  const fleet = new MemoryFleet(clocks[0]);
  const sources = clocks.map((clock) => new KeySetSource({ options, clock, fetcher: idp.fetcher, store: fleet.process(), listeners: [] }));
  return { fleet, sources, idp };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
}

describe('attack 2: fleet mode', () => {
  const all: KeySetSource[] = [];
  afterEach(async () => {
    await Promise.all(all.splice(0).map((s) => s.close()));
  });
  const track = <T extends { sources: KeySetSource[] }>(f: T): T => {
    all.push(...f.sources);
    return f;
  };

  it('a shared invalidation count far beyond any real one (the validator accepts it) does not cost one upstream fetch per request', async () => {
    const clock = new FakeClock(T0);
    const f = track(fleetOf([clock, clock]));
    await Promise.all(f.sources.map((s) => s.start()));
    await settle();
    const current = f.fleet.read(ID)!;
    const hostile = { ...current, mustRevalidate: true, invalidations: 2 ** 40 - 1 };
    // The value a Redis writer can leave is taken by the store's validator as it is.
    expect(checkKeySetState(JSON.parse(JSON.stringify(hostile)), LIMITS).ok).toBe(true);
    f.fleet.write(null, ID, hostile);
    await settle();
    f.idp.calls = 0;
    // Twenty requests with the known kid, one after another, spread over both processes.
    for (let i = 0; i < 20; i++) {
      await f.sources[i % 2].getSigningKey('k1');
      await settle();
    }
    // One revalidation for the fleet (two at most) answers an invalidation; today every request fetches.
    expect(f.idp.calls).toBeLessThanOrEqual(2);
  });

  it('a shared set of RS256 keys only (this issuer allows ES256) with a far-ahead revision, or mustRevalidate without an invalidation: no process takes it, none refetches', async () => {
    const clock = new FakeClock(T0);
    const f = track(fleetOf([clock, clock]));
    await Promise.all(f.sources.map((s) => s.start()));
    await settle();
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rsa = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256' };
    const current = f.fleet.read(ID)!;
    const revision = 2 ** 40 - 2;
    f.fleet.write(null, ID, { ...current, jwks: JSON.stringify({ keys: [rsa] }), revision, setRevision: revision });
    await settle();
    f.fleet.write(null, ID, { ...f.fleet.read(ID)!, mustRevalidate: true });
    await settle();
    f.idp.calls = 0;
    for (const s of f.sources) {
      expect((await s.resolveKeys('k1', 'ES256')).length).toBe(1);
      expect(s.getState()).toMatchObject({ kids: ['k1'], phase: 'fresh', fresh: true });
    }
    expect(f.idp.calls).toBe(0);
  });

  it('a shared revision just under the validator cap: the fleet\'s next writes stay values the store accepts', async () => {
    const clock = new FakeClock(T0);
    const f = track(fleetOf([clock, clock]));
    await Promise.all(f.sources.map((s) => s.start()));
    await settle();
    const current = f.fleet.read(ID)!;
    const hostile = { ...current, revision: 2 ** 40 - 1, setRevision: 2 ** 40 - 1 };
    expect(checkKeySetState(JSON.parse(JSON.stringify(hostile)), LIMITS).ok).toBe(true);
    f.fleet.write(null, ID, hostile);
    await settle();
    await f.sources[0].refresh();
    await settle();
    // The Redis store reads every value through this check: a refused one is "no shared state" for
    // every process, each write then overwrites it whole, and pushes (revocations) stop reaching anyone.
    expect(checkKeySetState(JSON.parse(JSON.stringify(f.fleet.read(ID))), LIMITS)).toMatchObject({ ok: true });
  });

  it('control, one process: invalidate() while a fetch started before it is in flight waits for a later fetch', async () => {
    const clock = new FakeClock(T0);
    const idp = fakeIdp();
    idp.keys = [jwk('k1'), jwk('compromised')];
    const source = new KeySetSource({ options, clock, fetcher: idp.fetcher, store: new MemoryKeySetStore(), listeners: [] });
    all.push(source);
    await source.start();
    let open!: () => void;
    idp.gate = new Promise<void>((r) => (open = r));
    const slow = source.refresh();
    await settle();
    // The IdP drops the key, and the operator invalidates; the fetch in flight was answered before.
    idp.keys = [idp.keys[0]];
    source.invalidate();
    idp.gate = null;
    open();
    await slow;
    await expect(source.getSigningKey('compromised')).rejects.toBeInstanceOf(KeyNotFoundError);
  });

  it('invalidate() on one process while another process\'s older fetch is in flight: that fetch does not answer it', async () => {
    const clock = new FakeClock(T0);
    const f = track(fleetOf([clock, clock]));
    f.idp.keys = [jwk('k1'), jwk('compromised')];
    await Promise.all(f.sources.map((s) => s.start()));
    await settle();
    const [a, b] = f.sources;
    let open!: () => void;
    f.idp.gate = new Promise<void>((r) => (open = r));
    const slow = b.refresh();
    await settle();
    expect(f.idp.calls).toBe(2); // the warm-up, and b's refresh in flight
    f.idp.keys = [f.idp.keys[0]];
    a.invalidate();
    await settle();
    f.idp.gate = null;
    open();
    await slow;
    await settle();
    // As on one process: the key the IdP dropped before the invalidation is refused after it.
    await expect(a.getSigningKey('compromised')).rejects.toBeInstanceOf(KeyNotFoundError);
  });

  it('revokeKey on one process then restoreKey on another before the notice arrived: the later call wins', async () => {
    const clock = new FakeClock(T0);
    const f = track(fleetOf([clock, clock, clock]));
    await Promise.all(f.sources.map((s) => s.start()));
    await settle();
    f.sources[0].revokeKey('k1');
    f.sources[1].restoreKey('k1');
    await settle();
    for (const s of f.sources) await expect(s.getSigningKey('k1')).resolves.toBeDefined();
  });

  it('revokeKey then restoreKey on two processes, each after the other\'s notice: restored everywhere, nothing refetched', async () => {
    const clock = new FakeClock(T0);
    const f = track(fleetOf([clock, clock, clock]));
    await Promise.all(f.sources.map((s) => s.start()));
    await settle();
    const calls = f.idp.calls;
    f.sources[0].revokeKey('k1');
    await settle();
    for (const s of f.sources) await expect(s.getSigningKey('k1')).rejects.toBeInstanceOf(KeyRevokedError);
    f.sources[1].restoreKey('k1');
    await settle();
    for (const s of f.sources) await expect(s.getSigningKey('k1')).resolves.toBeDefined();
    expect(f.fleet.read(ID)!.revokedKids).toEqual([]);
    expect(f.idp.calls).toBe(calls);
  });

  it('refresh() on four processes at once costs one upstream fetch, and all four end with its set', async () => {
    const clock = new FakeClock(T0);
    const f = track(fleetOf([clock, clock, clock, clock]));
    await Promise.all(f.sources.map((s) => s.start()));
    await settle();
    f.idp.calls = 0;
    f.idp.keys = [jwk('k2')];
    await Promise.all(f.sources.map((s) => s.refresh()));
    await settle();
    expect(f.idp.calls).toBe(1);
    for (const s of f.sources) expect(s.getState().kids).toEqual(['k2']);
  });

  it('clocks 30 s apart: a revocation on the process ahead reaches the one behind, and an unknown-kid flood costs one fetch', async () => {
    const behind = new FakeClock(T0);
    const ahead = new FakeClock(T0 + 30_000);
    const f = track(fleetOf([behind, ahead]));
    await Promise.all(f.sources.map((s) => s.start()));
    await settle();
    f.sources[1].revokeKey('k1');
    await settle();
    await expect(f.sources[0].getSigningKey('k1')).rejects.toBeInstanceOf(KeyRevokedError);
    f.idp.calls = 0;
    const flood = Promise.allSettled(Array.from({ length: 40 }, (_, i) => f.sources[i % 2].getSigningKey(`made-up-${i}`)));
    for (let t = 0; t < 30; t++) {
      await settle();
      await behind.advance(100);
      await ahead.advance(100);
    }
    await flood;
    expect(f.idp.calls).toBe(1);
  });

  it('clocks 90 s apart: a revocation made on the process ahead is not erased by the next write of the one behind', async () => {
    const behind = new FakeClock(T0);
    const ahead = new FakeClock(T0 + 90_000);
    const f = track(fleetOf([behind, ahead]));
    const [late, early] = f.sources;
    // The process ahead fetches first (a deploy in which it came up first); the one behind joins.
    await early.start();
    await settle();
    await late.start();
    await settle();
    early.revokeKey('k1');
    await settle();
    await expect(early.getSigningKey('k1')).rejects.toBeInstanceOf(KeyRevokedError);
    // Any write of the process behind: a refresh (here forced past any backoff).
    await late.refresh({ force: true });
    await settle();
    // The operator revoked k1 and never restored it: it must stay refused where it was revoked.
    await expect(early.getSigningKey('k1')).rejects.toBeInstanceOf(KeyRevokedError);
    expect(f.fleet.read(ID)!.revokedKids).toContain('k1');
  });

  it('Redis down: revoking and restoring 10,000 distinct kids holds at most maxUnsharedChanges, then refuses with a typed error', async () => {
    const clock = new FakeClock(T0);
    const f = track(fleetOf([clock]));
    await f.sources[0].start();
    await settle();
    f.fleet.down = true;
    let refused: unknown = null;
    let done = 0;
    for (let i = 0; i < 10_000 && refused === null; i++) {
      try {
        f.sources[0].revokeKey(`rotating-${i}`);
        f.sources[0].restoreKey(`rotating-${i}`);
        done++;
      } catch (err) {
        refused = err;
      }
    }
    await settle();
    expect(refused).toBeInstanceOf(JwksArgumentError);
    expect((refused as Error).message).toMatch(/wait for the fleet's store/);
    expect(done).toBe(FLEET_DEFAULTS.maxUnsharedChanges);
    // The refused call changed nothing here either.
    expect(f.sources[0].getState().revokedKids).toEqual([]);
    // Private, read for the bound only: what this process holds to write once Redis is back.
    const pending = (f.sources[0] as unknown as { fleet: { unshared: Map<string, unknown> } }).fleet.unshared.size;
    expect(pending).toBe(FLEET_DEFAULTS.maxUnsharedChanges);
  });

  it('close() leaves no timer behind: a change waiting for Redis, a flight waiting on another process\'s lease', async () => {
    const clock = new FakeClock(T0);
    const f = fleetOf([clock, clock]);
    await Promise.all(f.sources.map((s) => s.start()));
    await settle();
    const [a, b] = f.sources;
    // b holds the lease on a hanging fetch; a waits on it for a new kid.
    f.idp.gate = new Promise<void>(() => undefined);
    void b.refresh({ force: true }).catch(() => undefined);
    await settle();
    const waiting = a.getSigningKey('new-kid').catch(() => undefined);
    await settle();
    f.fleet.down = true;
    a.revokeKey('k1');
    await settle();
    await Promise.all([a.close(), b.close()]);
    await waiting;
    await settle();
    expect(clock.pending()).toEqual([]);
  });
});
