import { generateKeyPairSync } from 'node:crypto';
import { JwksCacheService } from '../../lib/services/jwks-cache.service';
import { resolveJwksOptions } from '../../lib/options/options.validator';
import { JwksFetchError, KeyCoolingDownError, KeyNotFoundError, KeySetUnavailableError } from '../../lib/errors/jwks.errors';
import type { JwksFetcher, JwksFetchResult } from '../../lib/fetch/jwks.fetcher';
import { FakeClock, flushPromises } from '../../lib/testing';


function jwk(kid: string) {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256' };
}
const optionsEs = resolveJwksOptions({
  issuer: 'https://issuer.test/',
  jwksUri: 'https://issuer.test/jwks.json',
  audience: 'api',
  algorithms: ['ES256'],
  cache: { ttlMs: 600_000, cooldownMs: 30_000, maxStaleMs: 3_600_000, refreshAheadMs: 30_000 },
});

/** A fake fetcher: answers from a mutable key list, counts calls, can hold or fail. */
function fakeFetcher() {
  const f = {
    calls: 0,
    keys: [jwk('k1')],
    fail: null as JwksFetchError | null,
    gate: null as Promise<void> | null,
    fetcher: (async () => {
      f.calls++;
      if (f.gate) await f.gate;
      if (f.fail) throw f.fail;
      return { kind: 'ok', jwks: JSON.stringify({ keys: f.keys }), etag: null } satisfies JwksFetchResult;
    }) as JwksFetcher,
  };
  return f;
}

async function started(clock = new FakeClock(), f = fakeFetcher()) {
  const svc = new JwksCacheService(optionsEs, clock, f.fetcher);
  await svc.onApplicationBootstrap();
  return { svc, clock, f };
}

describe('JwksCacheService on a fake clock and fake fetcher', () => {
  it('warms up at bootstrap and hits the cache afterwards without fetching', async () => {
    const { svc, f } = await started();
    expect(f.calls).toBe(1);
    const first = await svc.getSigningKey('k1');
    for (let i = 0; i < 50; i++) expect(await svc.getSigningKey('k1')).toBe(first); // one KeyObject, not one per call
    expect(f.calls).toBe(1);
    expect(svc.getState()).toMatchObject({ kids: ['k1'], fresh: true, fetchCount: 1 });
  });

  it('shares one fetch among 100 concurrent lookups of unknown kids', async () => {
    const { svc, f } = await started();
    let release!: () => void;
    f.gate = new Promise((r) => (release = r));
    f.keys = [jwk('k1'), jwk('k2')];
    const lookups = Array.from({ length: 100 }, (_, i) => svc.getSigningKey(i === 0 ? 'k2' : `bogus-${i}`).then(() => 'ok', (e: Error) => e.constructor.name));
    await flushPromises();
    release();
    const results = await Promise.all(lookups);
    expect(f.calls).toBe(2);
    expect(results[0]).toBe('ok');
    expect(results.slice(1).every((r) => r === 'KeyNotFoundError')).toBe(true);
  });

  it('fails fast inside the cooldown, then refetches once the cooldown is over', async () => {
    const { svc, clock, f } = await started();
    await expect(svc.getSigningKey('nope-1')).rejects.toBeInstanceOf(KeyNotFoundError);
    expect(f.calls).toBe(2);
    f.keys = [jwk('k1'), jwk('new')];
    await expect(svc.getSigningKey('new')).rejects.toBeInstanceOf(KeyCoolingDownError);
    expect(svc.getState().coolingDown).toBe(true);
    expect(f.calls).toBe(2);
    await clock.advance(30_000);
    await expect(svc.getSigningKey('new')).resolves.toMatchObject({ type: 'public', asymmetricKeyType: 'ec' });
    expect(f.calls).toBe(3);
  });

  it('refreshes in the background before the ttl ends', async () => {
    const { svc, clock, f } = await started();
    f.keys = [jwk('k1'), jwk('rotated')];
    await clock.advance(600_000 - 30_000 - 1);
    expect(f.calls).toBe(1);
    await clock.advance(30_000);
    expect(f.calls).toBe(2);
    expect(svc.getState().kids).toContain('rotated');
    expect(svc.getState().fresh).toBe(true);
  });

  it('serves the stale set while refreshing fails, up to maxStaleMs, then refuses', async () => {
    const { svc, clock, f } = await started();
    f.fail = new JwksFetchError('down', 'status', 500);
    await clock.advance(600_000 + 1);
    expect(svc.getState().phase).toBe('stale');
    await expect(svc.getSigningKey('k1')).resolves.toMatchObject({ type: 'public' });
    const callsDuringOutage = f.calls;
    await clock.advance(3_600_000);
    expect(svc.getState().phase).toBe('expired');
    await expect(svc.getSigningKey('k1')).rejects.toBeInstanceOf(KeySetUnavailableError);
    // Full-jitter backoff capped at the 30-s cooldown averages one attempt per 15 s: about 240 in an hour, not thousands.
    expect(f.calls - callsDuringOutage).toBeLessThan(300);
    expect(svc.getState().lastError).toMatchObject({ kind: 'status', status: 500 });
    f.fail = null;
    await clock.advance(60_000);
    await expect(svc.getSigningKey('k1')).resolves.toMatchObject({ type: 'public' });
    expect(svc.getState().phase).toBe('fresh');
  });

  it('invalidate() makes the next lookup refetch and drops removed keys', async () => {
    const { svc, f } = await started();
    f.keys = [jwk('k2')];
    svc.invalidate();
    expect(svc.getState().fresh).toBe(false);
    await expect(svc.getSigningKey('k1')).rejects.toBeInstanceOf(KeyNotFoundError);
    expect(f.calls).toBe(2);
    await expect(svc.getSigningKey('k2')).resolves.toMatchObject({ type: 'public' });
  });

  it('refresh() fetches now, bypassing the cooldown, and shares a fetch in flight', async () => {
    const { svc, f } = await started();
    await expect(svc.getSigningKey('unknown')).rejects.toBeInstanceOf(KeyNotFoundError);
    const [a, b] = await Promise.all([svc.refresh(), svc.refresh()]);
    expect(f.calls).toBe(3);
    expect(a.fetchCount).toBe(b.fetchCount);
  });

  it('retries a failed warm-up in the background', async () => {
    const clock = new FakeClock();
    const f = fakeFetcher();
    f.fail = new JwksFetchError('refused', 'network');
    const { svc } = await started(clock, f);
    expect(svc.getState().phase).toBe('empty');
    await expect(svc.getSigningKey('k1')).rejects.toBeInstanceOf(KeySetUnavailableError);
    f.fail = null;
    await clock.advance(1_000);
    expect(svc.getState().phase).toBe('fresh');
  });

  it('clears its timer at shutdown', async () => {
    const { svc, clock } = await started();
    expect(clock.pending().length).toBe(1);
    await svc.onApplicationShutdown();
    expect(clock.pending().length).toBe(0);
  });
});

describe('jitter from the injected clock', () => {
  it('spreads the background refresh with clock.random(), deterministically', async () => {
    const start = Date.now();
    const at = async (random: () => number) => {
      const { svc } = await started(new FakeClock(start, { random }));
      const s = svc.getState();
      await svc.onApplicationShutdown();
      return { next: s.nextRefreshAt as number, freshUntil: s.freshUntil as number };
    };
    // ttl 600 s, refreshAhead 30 s: due at freshUntil - 30 s + floor(random * 15 s)
    const low = await at(() => 0);
    const high = await at(() => 0.999);
    expect(low.next).toBe(low.freshUntil - 30_000);
    expect(high.next).toBe(high.freshUntil - 30_000 + Math.floor(0.999 * 15_000));
  });

  it('falls back to Math.random for a clock without random()', async () => {
    const fake = new FakeClock();
    const legacy = { now: () => fake.now(), setTimeout: fake.setTimeout.bind(fake), clearTimeout: fake.clearTimeout.bind(fake) };
    const svc = new JwksCacheService(optionsEs, legacy, fakeFetcher().fetcher);
    await svc.onApplicationBootstrap();
    const s = svc.getState();
    expect(s.nextRefreshAt).toBeGreaterThanOrEqual((s.freshUntil as number) - 30_000);
    expect(s.nextRefreshAt).toBeLessThan((s.freshUntil as number) - 15_000);
  });
});

describe('per-process counters', () => {
  it('are counted by the service, not carried in the shareable key-set state', async () => {
    const { svc, f } = await started();
    f.fail = new JwksFetchError('down', 'status', 500);
    await svc.refresh();
    expect(svc.getState()).toMatchObject({ fetchCount: 2, notModifiedCount: 0, consecutiveFailures: 1 });
    const shared = svc.source().keySetState();
    expect(Object.keys(shared)).not.toContain('fetchCount');
    expect(Object.keys(shared)).not.toContain('notModifiedCount');
  });
});
