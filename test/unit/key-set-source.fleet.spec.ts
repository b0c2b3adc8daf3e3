import { generateKeyPairSync } from 'node:crypto';
import { KeySetSource } from '../../lib/cache/key-set.source';
import { initialKeySetState } from '../../lib/cache/key-set.state';
import { resolveJwksOptions } from '../../lib/options/options.validator';
import { JwksFetchError, KeyCoolingDownError, KeyNotFoundError, KeyRevokedError } from '../../lib/errors/jwks.errors';
import type { JwksFetcher, JwksFetchResult } from '../../lib/fetch/jwks.fetcher';
import { FLEET_DEFAULTS, fleetLeaseTtlMs } from '../../lib/jwks-auth.constants';
import { FakeClock } from '../../lib/testing';
import { MemoryFleet } from '../fixtures/memory-fleet.store';
import type { JwksAuthEvent } from '../../lib/events/jwks-auth.events';

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
  fetch: { timeoutMs: 1_000 },
});
const ID = { issuer: 'https://issuer.test/', jwksUri: 'https://issuer.test/jwks.json' };

/** One IdP for the whole fleet: counts every upstream request. */
function fakeIdp() {
  const idp = {
    calls: 0,
    keys: [jwk('k1')] as object[],
    fail: null as JwksFetchError | null,
    /** When set, a fetch waits for this promise (a slow IdP). */
    gate: null as Promise<void> | null,
    fetcher: null as unknown as JwksFetcher,
  };
  idp.fetcher = async () => {
    idp.calls++;
    if (idp.gate) await idp.gate;
    if (idp.fail) throw idp.fail;
    return { kind: 'ok', jwks: JSON.stringify({ keys: idp.keys }), etag: '"e"' } satisfies JwksFetchResult;
  };
  return idp;
}

function fleetOf(n: number, clock = new FakeClock(1_700_000_000_000), idp = fakeIdp()) {
  const fleet = new MemoryFleet(clock);
  const events: JwksAuthEvent[][] = Array.from({ length: n }, () => []);
  const sources = Array.from({ length: n }, (_, i) => new KeySetSource({ options, clock, fetcher: idp.fetcher, store: fleet.process(), listeners: [(e) => events[i].push(e)] }));
  return { fleet, sources, clock, idp, events };
}

/** Lets pushes (microtasks) and awaited work settle without moving the clock. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

describe('KeySetSource in a fleet (shared store with lease, update and watch)', () => {
  const all: KeySetSource[] = [];
  afterEach(async () => {
    await Promise.all(all.splice(0).map((s) => s.close()));
  });
  const track = (f: ReturnType<typeof fleetOf>) => {
    all.push(...f.sources);
    return f;
  };

  it('cold start of four processes at once: one upstream fetch, every process holds the set', async () => {
    const { sources, idp } = track(fleetOf(4));
    await Promise.all(sources.map((s) => s.start()));
    await settle();
    expect(idp.calls).toBe(1);
    for (const s of sources) expect(s.getState()).toMatchObject({ kids: ['k1'], phase: 'fresh', fleet: 'joined' });
    expect(sources.map((s) => s.getState().fetchCount).reduce((a, b) => a + b)).toBe(1);
  });

  it('a process started later takes the fresh shared set and asks the IdP nothing', async () => {
    const f = track(fleetOf(1));
    await f.sources[0].start();
    const late = new KeySetSource({ options, clock: f.clock, fetcher: f.idp.fetcher, store: f.fleet.process(), listeners: [] });
    all.push(late);
    await late.start();
    expect(f.idp.calls).toBe(1);
    expect(late.getState()).toMatchObject({ kids: ['k1'], phase: 'fresh', fetchCount: 0 });
  });

  it('an IdP down during a deploy: new processes serve the shared set', async () => {
    const f = track(fleetOf(1));
    await f.sources[0].start();
    f.idp.fail = new JwksFetchError('down', 'status', 503);
    await f.clock.advance(options.cache.ttlMs + 1_000); // stale now, and the fleet's refreshes fail
    const late = new KeySetSource({ options, clock: f.clock, fetcher: f.idp.fetcher, store: f.fleet.process(), listeners: [] });
    all.push(late);
    await late.start();
    expect(late.getState()).toMatchObject({ kids: ['k1'], phase: 'stale' });
    await expect(late.getSigningKey('k1')).resolves.toBeDefined();
  });

  it('4,000 unknown kids over four processes within one cooldown: one upstream fetch', async () => {
    const { sources, idp } = track(fleetOf(4));
    await Promise.all(sources.map((s) => s.start()));
    idp.calls = 0;
    const outcomes = await Promise.allSettled(Array.from({ length: 4_000 }, (_, i) => sources[i % 4].getSigningKey(`made-up-${i}`)));
    expect(idp.calls).toBe(1);
    for (const o of outcomes) {
      expect(o.status).toBe('rejected');
      expect((o as PromiseRejectedResult).reason).toBeInstanceOf(o === outcomes[0] ? KeyNotFoundError : Error);
    }
    // Every process now counts the fleet's cooldown: more unknown kids fail fast, no fetch.
    for (const s of sources) await expect(s.getSigningKey('another')).rejects.toBeInstanceOf(KeyCoolingDownError);
    expect(idp.calls).toBe(1);
  });

  it('a rotation one process fetched is used by all without another fetch', async () => {
    const { sources, idp } = track(fleetOf(4));
    await Promise.all(sources.map((s) => s.start()));
    idp.keys = [...idp.keys, jwk('k2')];
    idp.calls = 0;
    await expect(sources[0].getSigningKey('k2')).resolves.toBeDefined();
    await settle();
    for (const s of sources.slice(1)) await expect(s.getSigningKey('k2')).resolves.toBeDefined();
    expect(idp.calls).toBe(1);
  });

  it('revokeKey and restoreKey on one process reach the others, and the list survives a restart', async () => {
    const f = track(fleetOf(3));
    const { sources } = f;
    await Promise.all(sources.map((s) => s.start()));
    sources[0].revokeKey('k1');
    await settle();
    for (const s of sources) await expect(s.getSigningKey('k1')).rejects.toBeInstanceOf(KeyRevokedError);
    // Each process says so in its own log: the caller as the operator's call, the others as the fleet's.
    expect(f.events[0].filter((e) => e.type === 'key-revoked')).toEqual([expect.objectContaining({ kid: 'k1' })]);
    expect(f.events[0].find((e) => e.type === 'key-revoked')).not.toHaveProperty('via');
    for (const ev of f.events.slice(1)) expect(ev.filter((e) => e.type === 'key-revoked')).toEqual([expect.objectContaining({ kid: 'k1', via: 'fleet' })]);
    // A process started now (a restart) refuses it too.
    const restarted = new KeySetSource({ options, clock: f.clock, fetcher: f.idp.fetcher, store: f.fleet.process(), listeners: [] });
    all.push(restarted);
    await restarted.start();
    await expect(restarted.getSigningKey('k1')).rejects.toBeInstanceOf(KeyRevokedError);
    sources[1].restoreKey('k1');
    await settle();
    for (const s of [...sources, restarted]) await expect(s.getSigningKey('k1')).resolves.toBeDefined();
  });

  it('invalidate on one process: every process revalidates, with one upstream fetch for all', async () => {
    const { sources, idp } = track(fleetOf(4));
    await Promise.all(sources.map((s) => s.start()));
    idp.calls = 0;
    sources[2].invalidate();
    await settle();
    for (const s of sources) expect(s.getState().fresh).toBe(false);
    await Promise.all(sources.map((s) => s.getSigningKey('k1')));
    expect(idp.calls).toBe(1);
    await settle();
    for (const s of sources) expect(s.getState().fresh).toBe(true);
  });

  it('one Retry-After for the whole fleet: after a 429 no process fetches before it', async () => {
    const { sources, idp, clock } = track(fleetOf(3));
    await Promise.all(sources.map((s) => s.start()));
    idp.calls = 0;
    idp.fail = new JwksFetchError('rate limited', 'status', 429, 120_000);
    await expect(sources[0].getSigningKey('new-kid')).rejects.toBeDefined();
    await settle();
    expect(idp.calls).toBe(1);
    for (const s of sources) expect(s.getState().nextAttemptAt).toBe(clock.now() + 120_000);
    // Past the cooldown, still inside Retry-After: unknown kids on any process cost nothing upstream.
    await clock.advance(60_000);
    for (const s of sources) await expect(s.getSigningKey('other-kid')).rejects.toBeDefined();
    expect(idp.calls).toBe(1);
  });

  it('Redis down: each process falls back to its own limits; a revocation made meanwhile reaches the fleet when it is back', async () => {
    const { sources, idp, fleet, clock } = track(fleetOf(4));
    await Promise.all(sources.map((s) => s.start()));
    fleet.down = true;
    idp.calls = 0;
    for (const s of sources) expect(s.getState().fleet).toBe('degraded');
    // Known kids verify from memory; unknown kids: one fetch per process per cooldown.
    await Promise.all(sources.map((s) => s.getSigningKey('k1')));
    await Promise.allSettled(Array.from({ length: 400 }, (_, i) => sources[i % 4].getSigningKey(`x-${i}`)));
    expect(idp.calls).toBe(4);
    sources[0].revokeKey('k1');
    await settle();
    await expect(sources[0].getSigningKey('k1')).rejects.toBeInstanceOf(KeyRevokedError);
    await expect(sources[1].getSigningKey('k1')).resolves.toBeDefined();
    fleet.down = false;
    await clock.advance(FLEET_DEFAULTS.changeRetryMs);
    await settle();
    for (const s of sources) await expect(s.getSigningKey('k1')).rejects.toBeInstanceOf(KeyRevokedError);
    expect(sources[3].getState().fleet).toBe('joined');
  });

  it('the lease holder dies mid-fetch: nobody fetches until its lease lapses, then one process does', async () => {
    const { sources, idp, fleet, clock } = track(fleetOf(2));
    await Promise.all(sources.map((s) => s.start()));
    // A process that took the lease and died: its lease is never released.
    const dead = await fleet.process().lease(ID, fleetLeaseTtlMs(options.fetch.timeoutMs));
    expect(dead).not.toBeNull();
    idp.calls = 0;
    idp.keys = [...idp.keys, jwk('k2')];
    const waiting = sources[1].refresh();
    for (let t = 0; t < fleetLeaseTtlMs(options.fetch.timeoutMs) - FLEET_DEFAULTS.waitPollMs; t += FLEET_DEFAULTS.waitPollMs) {
      await clock.advance(FLEET_DEFAULTS.waitPollMs);
      expect(idp.calls).toBe(0);
    }
    await clock.advance(2 * FLEET_DEFAULTS.waitPollMs);
    await waiting;
    expect(idp.calls).toBe(1);
    await settle();
    for (const s of sources) expect(s.getState().kids).toEqual(['k1', 'k2']);
  });

  it('bounds a shared state by its own options: a year of freshness or backoff lasts at most maxTtlMs and the longest wait', async () => {
    const { sources, idp, fleet, clock } = track(fleetOf(1));
    const now = clock.now();
    const year = 365 * 24 * 3_600_000;
    fleet.write(null, ID, {
      ...initialKeySetState(),
      jwks: JSON.stringify({ keys: idp.keys }),
      fetchedAt: now,
      setRevision: 1,
      revision: 2,
      freshUntil: now + year,
      notBefore: now + year,
      failures: 1,
      lastAttemptAt: now,
      lastError: { code: 'ERR_JWKS_FETCH', kind: 'status', message: 'planted', status: 429, at: now },
    });
    await sources[0].start();
    const s = sources[0].getState();
    expect(s.freshUntil).toBe(now + options.cache.maxTtlMs);
    expect(s.nextAttemptAt).toBe(now + Math.max(options.cache.maxRetryAfterMs, options.cache.backoffMaxMs));
    expect(idp.calls).toBe(0);
    // Counted from the stored failure, not from each reading: the retry runs when the bound ends.
    await clock.advance(options.cache.maxRetryAfterMs - 1);
    expect(idp.calls).toBe(0);
    await clock.advance(1);
    expect(idp.calls).toBe(1);
    expect(sources[0].getState()).toMatchObject({ consecutiveFailures: 0, nextAttemptAt: null });
  });

  it('refuses a shared state with moments in the future beyond the clock skew, fetches itself and repairs the value', async () => {
    const { sources, idp, fleet, clock } = track(fleetOf(1));
    const events: string[] = [];
    const source = new KeySetSource({ options, clock, fetcher: idp.fetcher, store: fleet.process(), listeners: [(e) => events.push(e.type === 'store-not-used' ? `${e.type}:${e.reason}` : e.type)] });
    all.push(source);
    const now = clock.now();
    const attacker = jwk('planted');
    fleet.write(null, ID, {
      ...initialKeySetState(),
      jwks: JSON.stringify({ keys: [attacker] }),
      fetchedAt: now,
      setRevision: 1,
      revision: 1,
      freshUntil: now + 1_000,
      lastUnknownKidFetchAt: now + FLEET_DEFAULTS.maxClockSkewMs + 1,
    });
    await source.start();
    expect(events).toContain('store-not-used:implausible-times');
    expect(idp.calls).toBe(1);
    expect(source.getState().kids).toEqual(['k1']);
    expect(fleet.read(ID)).toMatchObject({ jwks: JSON.stringify({ keys: idp.keys }), lastUnknownKidFetchAt: null });
    void sources;
  });
});
