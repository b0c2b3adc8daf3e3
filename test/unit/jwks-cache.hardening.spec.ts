import { generateKeyPairSync } from 'node:crypto';
import { afterEach, jest } from '@jest/globals';
import { JwksCacheService } from '../../lib/services/jwks-cache.service';
import { resolveJwksOptions } from '../../lib/options/options.validator';
import {
  JwksArgumentError,
  JwksFetchError,
  JwksRefreshDeferredError,
  KeyCoolingDownError,
  KeyFetchBackoffError,
  KeyNotFoundError,
  KeyRevokedError,
  KeySetUnavailableError,
} from '../../lib/errors/jwks.errors';
import type { JwksAuthModuleOptions } from '../../lib/interfaces/jwks-auth-options.interface';
import type { JwksFetcher, JwksFetchResult } from '../../lib/fetch/jwks.fetcher';
import { FakeClock, flushPromises } from '../../lib/testing';

function jwk(kid: string) {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256' };
}

function options(extra: Partial<JwksAuthModuleOptions> = {}) {
  return resolveJwksOptions({
    issuer: 'https://issuer.test/',
    jwksUri: 'https://issuer.test/jwks.json',
    audience: 'api',
    algorithms: ['ES256'],
    ...extra,
  });
}

/**
 * A fake IdP: the answer is taken when the request arrives (as a real server would), then held
 * while `hold` is set, so a fetch in flight can carry an answer older than what is published now.
 */
function fakeIdp() {
  const idp = {
    calls: 0,
    keys: [jwk('k1')],
    fail: null as JwksFetchError | null,
    maxAgeMs: undefined as number | undefined,
    hold: null as Promise<void> | null,
    callTimes: [] as number[],
    fetcher: null as unknown as JwksFetcher,
  };
  idp.fetcher = async ({ now }) => {
    idp.calls++;
    idp.callTimes.push(now);
    const fail = idp.fail;
    const body = JSON.stringify({ keys: idp.keys });
    if (idp.hold) await idp.hold;
    if (fail) throw fail;
    return { kind: 'ok', jwks: body, etag: null, maxAgeMs: idp.maxAgeMs } satisfies JwksFetchResult;
  };
  return idp;
}

function holdFetches(idp: ReturnType<typeof fakeIdp>): () => void {
  let release!: () => void;
  idp.hold = new Promise((resolve) => (release = resolve));
  return () => {
    idp.hold = null;
    release();
  };
}

async function started(extra: Partial<JwksAuthModuleOptions> = {}, clock = new FakeClock(), idp = fakeIdp()) {
  const svc = new JwksCacheService(options(extra), clock, idp.fetcher);
  await svc.onApplicationBootstrap();
  return { svc, clock, idp };
}

const outcome = (p: Promise<unknown>) => p.then(() => 'ok', (e: Error) => e.constructor.name);

afterEach(() => {
  jest.restoreAllMocks();
});

describe('invalidate() and refresh() against a fetch already in flight (revocation race)', () => {
  it('invalidate() is not satisfied by a fetch that started before it: the revoked key stops verifying', async () => {
    const { svc, idp } = await started();
    const release = holdFetches(idp);
    // Anyone can start this fetch with a made-up kid; its answer still lists k1.
    const bogus = outcome(svc.getSigningKey('made-up'));
    await flushPromises();
    idp.keys = [jwk('k2')]; // the operator revokes k1 at the IdP...
    svc.invalidate(); // ...and tells us
    const lookup = outcome(svc.getSigningKey('k1'));
    release();
    expect(await lookup).toBe('KeyNotFoundError');
    expect(await bogus).toBe('KeyNotFoundError');
    expect(idp.calls).toBe(3); // warm-up, the old fetch, and one started after invalidate()
    expect(svc.getState()).toMatchObject({ kids: ['k2'], fresh: true });
  });

  it('refresh() resolves with a state from a fetch started after the call', async () => {
    const { svc, idp } = await started();
    const release = holdFetches(idp);
    void outcome(svc.getSigningKey('made-up'));
    await flushPromises();
    idp.keys = [jwk('k2')];
    const refreshing = svc.refresh();
    release();
    const state = await refreshing;
    expect(state.kids).toEqual(['k2']);
    await expect(svc.getSigningKey('k1')).rejects.toBeInstanceOf(KeyCoolingDownError); // unknown now, inside the cooldown
  });

  it('a background refresh does not answer an invalidation made while it ran', async () => {
    const { svc, clock, idp } = await started();
    const release = holdFetches(idp);
    await clock.advance(600_000); // the background refresh starts and hangs
    expect(svc.getState().fetching).toBe(true);
    idp.keys = [jwk('k2')];
    svc.invalidate();
    release();
    await flushPromises();
    await flushPromises();
    // The old answer did not clear the invalidation: the next refetch runs at once, in the background.
    await clock.advance(0);
    await flushPromises();
    expect(svc.getState().kids).toEqual(['k2']);
    expect(svc.getState().fresh).toBe(true);
  });
});

describe('invalidate() with a slow IdP (availability first)', () => {
  it('serves a known kid from the held set once the revalidation has not answered within maxWaitMs', async () => {
    const { svc, clock, idp } = await started({ cache: { maxWaitMs: 1_000, maxWaiters: 5 } });
    const release = holdFetches(idp); // the IdP hangs
    svc.invalidate();
    const waiting = Array.from({ length: 20 }, () => outcome(svc.getSigningKey('k1')));
    await flushPromises();
    await clock.advance(1_000);
    expect(await Promise.all(waiting)).toEqual(Array(20).fill('ok')); // 5 waited, 15 were served at once
    // later requests, while the same fetch still hangs, are served at once too
    expect(await outcome(svc.getSigningKey('k1'))).toBe('ok');
    // an unknown kid is still refused
    expect(await outcome(svc.getSigningKey('made-up'))).toBe('KeyWaitTimeoutError');
    release();
  });
});

describe('revokeKey() / restoreKey()', () => {
  it('refuses the kid at once, while the IdP is down, through refetches that still list it, until restored', async () => {
    const { svc, idp } = await started({ cache: { cooldownMs: 0 } });
    idp.keys = [jwk('k1'), jwk('k2')];
    await svc.refresh();
    const fetchesBefore = idp.calls;
    svc.revokeKey('k1');
    await expect(svc.getSigningKey('k1')).rejects.toBeInstanceOf(KeyRevokedError);
    expect(idp.calls).toBe(fetchesBefore); // a revoked kid never triggers a fetch
    expect(svc.getState()).toMatchObject({ kids: ['k2'], revokedKids: ['k1'] });
    await svc.refresh(); // the IdP still publishes k1
    await expect(svc.getSigningKey('k1')).rejects.toBeInstanceOf(KeyRevokedError);
    idp.fail = new JwksFetchError('down', 'status', 500);
    svc.invalidate();
    await expect(svc.getSigningKey('k1')).rejects.toBeInstanceOf(KeyRevokedError);
    await expect(svc.getSigningKey('k2')).resolves.toMatchObject({ type: 'public' });
    svc.restoreKey('k1');
    await expect(svc.getSigningKey('k1')).resolves.toMatchObject({ type: 'public' });
    expect(svc.getState().revokedKids).toEqual([]);
  });

  it('refuses arguments that are not key ids with a coded error', async () => {
    const { svc } = await started();
    for (const bad of [42, '', 'a b', 'x'.repeat(200), null]) {
      expect(() => svc.revokeKey(bad as never)).toThrow(JwksArgumentError);
    }
  });
});

describe('refresh() honours the IdP', () => {
  it('makes no request during a Retry-After, however many calls, unless forced; forced calls share one fetch', async () => {
    const { svc, idp } = await started();
    idp.fail = new JwksFetchError('rate limited', 'status', 429, 600_000);
    await svc.refresh();
    const calls = idp.calls;
    const results = await Promise.all(Array.from({ length: 50 }, () => outcome(svc.refresh())));
    expect(results.every((r) => r === 'JwksRefreshDeferredError')).toBe(true);
    expect(idp.calls).toBe(calls);
    const deferred = await svc.refresh().catch((e: unknown) => e);
    expect(deferred).toBeInstanceOf(JwksRefreshDeferredError);
    expect((deferred as JwksRefreshDeferredError).retryAfterMs).toBe(600_000);
    idp.fail = null;
    const forced = await Promise.all(Array.from({ length: 50 }, () => svc.refresh({ force: true })));
    expect(idp.calls).toBe(calls + 1);
    expect(forced[0].kids).toEqual(['k1']);
  });

  it('invalidate() and unknown kids send nothing inside a Retry-After either; the held set keeps serving', async () => {
    const { svc, clock, idp } = await started();
    idp.fail = new JwksFetchError('rate limited', 'status', 429, 600_000);
    await expect(svc.refresh()).resolves.toMatchObject({ consecutiveFailures: 1 });
    const calls = idp.calls;
    svc.invalidate();
    for (let i = 0; i < 20; i++) {
      await expect(svc.getSigningKey('k1')).resolves.toMatchObject({ type: 'public' });
      expect(await outcome(svc.getSigningKey(`made-up-${i}`))).toBe('KeyFetchBackoffError');
      await clock.advance(25_000);
    }
    expect(idp.calls).toBe(calls); // 500 s of invalidation and unknown kids: no request
    idp.fail = null;
    await clock.advance(100_000);
    expect(idp.calls).toBe(calls + 1); // the first one after the Retry-After
  });

  it('bypasses the unknown-kid cooldown', async () => {
    const { svc, idp } = await started();
    await expect(svc.getSigningKey('made-up')).rejects.toBeInstanceOf(KeyNotFoundError);
    await expect(svc.getSigningKey('made-up-2')).rejects.toBeInstanceOf(KeyCoolingDownError);
    await svc.refresh();
    expect(idp.calls).toBe(3);
  });
});

describe('a new key after an outage', () => {
  it('is accepted within the cooldown of the IdP coming back, not after the backoff', async () => {
    // the longest jitter, every time
    const { svc, clock, idp } = await started({}, new FakeClock(Date.now(), { random: () => 0.999 }));
    idp.fail = new JwksFetchError('down', 'status', 500);
    await clock.advance(15 * 60_000); // long outage: backoff at its cap
    idp.fail = null;
    idp.keys = [jwk('k1'), jwk('rotated')];
    const back = clock.now();
    let acceptedAfter = -1;
    for (let t = 0; t <= 120_000; t += 1_000) {
      if ((await outcome(svc.getSigningKey('rotated'))) === 'ok') {
        acceptedAfter = clock.now() - back;
        break;
      }
      await clock.advance(1_000);
    }
    expect(acceptedAfter).toBeGreaterThanOrEqual(0);
    expect(acceptedAfter).toBeLessThanOrEqual(30_000);
  });
});

describe('requests waiting on a fetch are bounded', () => {
  it('holds at most maxWaiters requests, refuses the rest at once, and releases the held ones after maxWaitMs', async () => {
    const { svc, clock, idp } = await started({ cache: { maxWaiters: 100, maxWaitMs: 2_000 } });
    const release = holdFetches(idp); // the IdP hangs
    const settled: string[] = [];
    const lookups = Array.from({ length: 1_000 }, (_, i) => outcome(svc.getSigningKey(`unknown-${i}`)).then((r) => settled.push(r)));
    await flushPromises();
    expect(settled.length).toBe(900);
    expect(settled.every((r) => r === 'KeyCoolingDownError')).toBe(true);
    await clock.advance(2_000);
    await Promise.all(lookups);
    expect(settled.filter((r) => r === 'KeyWaitTimeoutError')).toHaveLength(100);
    // known keys never waited
    await expect(svc.getSigningKey('k1')).resolves.toMatchObject({ type: 'public' });
    release();
  });
});

describe('warm-up', () => {
  it('lets startup go on after warmupTimeoutMs while the fetch carries on in the background', async () => {
    const clock = new FakeClock();
    const idp = fakeIdp();
    const release = holdFetches(idp);
    const svc = new JwksCacheService(options({ warmupTimeoutMs: 1_500 }), clock, idp.fetcher);
    let booted = false;
    const boot = svc.onApplicationBootstrap().then(() => (booted = true));
    await clock.advance(1_499);
    expect(booted).toBe(false);
    await clock.advance(1);
    await boot;
    expect(svc.getState()).toMatchObject({ phase: 'empty', fetching: true });
    release();
    await flushPromises();
    expect(svc.getState().phase).toBe('fresh');
    expect(idp.calls).toBe(1);
  });

  it('fails startup on a warm-up timeout with failOnWarmupError', async () => {
    const clock = new FakeClock();
    const idp = fakeIdp();
    const release = holdFetches(idp);
    const svc = new JwksCacheService(options({ warmupTimeoutMs: 500, failOnWarmupError: true }), clock, idp.fetcher);
    const boot = svc.onApplicationBootstrap().catch((e: unknown) => e);
    await clock.advance(500);
    const err = await boot;
    expect(err).toBeInstanceOf(JwksFetchError);
    expect((err as JwksFetchError).message).toMatch(/https:\/\/issuer\.test\/jwks\.json.*warmupTimeoutMs/);
    release();
  });
});

describe('refusal codes tell situations apart', () => {
  it('absent after a fetch, refused during backoff, timed-out wait, no set at all', async () => {
    const { svc, clock, idp } = await started({ cache: { cooldownMs: 0, maxWaitMs: 1_000 } });
    await expect(svc.getSigningKey('absent')).rejects.toBeInstanceOf(KeyNotFoundError);
    idp.fail = new JwksFetchError('down', 'status', 500);
    await svc.refresh();
    await expect(svc.getSigningKey('absent')).rejects.toBeInstanceOf(KeyFetchBackoffError);
    await expect(svc.getSigningKey('absent')).rejects.toMatchObject({ code: 'ERR_JWKS_BACKOFF' });
    idp.fail = null;
    const release = holdFetches(idp);
    await clock.advance(60_000);
    const waiting = outcome(svc.getSigningKey('absent'));
    await clock.advance(1_000);
    expect(await waiting).toBe('KeyWaitTimeoutError');
    release();
    const down = fakeIdp();
    down.fail = new JwksFetchError('down', 'network');
    const { svc: cold } = await started({}, new FakeClock(), down);
    const err = await cold.getSigningKey('k1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeySetUnavailableError);
    expect((err as KeySetUnavailableError).retryAfterMs).toBeGreaterThan(0);
    expect((err as KeySetUnavailableError).retryAfterMs).toBeLessThanOrEqual(5_000);
    // a timed-out wait with no set held is an outage too (503), not this token's fault
    const coldClock = new FakeClock();
    const hanging = fakeIdp();
    const releaseCold = holdFetches(hanging);
    const boot = new JwksCacheService(options({ warmupTimeoutMs: 100, cache: { maxWaitMs: 1_000 } }), coldClock, hanging.fetcher);
    const booting = boot.onApplicationBootstrap();
    await coldClock.advance(100);
    await booting;
    const waitingCold = boot.getSigningKey('k1').catch((e: unknown) => e);
    await coldClock.advance(1_000);
    expect(await waitingCold).toBeInstanceOf(KeySetUnavailableError);
    releaseCold();
  });
});

describe('no usable key set', () => {
  it('retries at most about 5 s apart while none is held, still honouring Retry-After', async () => {
    const clock = new FakeClock(Date.now(), { random: () => 0.999 });
    const idp = fakeIdp();
    idp.fail = new JwksFetchError('down', 'network');
    await started({}, clock, idp);
    await clock.advance(10 * 60_000);
    const gaps = idp.callTimes.slice(1).map((t, i) => t - idp.callTimes[i]);
    expect(gaps.length).toBeGreaterThan(100);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(5_000);
    // service resumes within seconds of the IdP's return
    idp.fail = null;
    await clock.advance(5_000);
    expect(idp.calls).toBeGreaterThan(gaps.length + 1);
    const limitedClock = new FakeClock();
    const limitedIdp = fakeIdp();
    limitedIdp.fail = new JwksFetchError('rate limited', 'status', 429, 120_000);
    await started({}, limitedClock, limitedIdp);
    await limitedClock.advance(119_000);
    expect(limitedIdp.calls).toBe(1);
    await limitedClock.advance(1_000);
    expect(limitedIdp.calls).toBe(2);
  });
});

describe('a low ttlMs', () => {
  it('is not overridden by the default minTtlMs floor when the IdP says max-age=1 or no-cache', async () => {
    const idp = fakeIdp();
    idp.maxAgeMs = 1_000;
    const { svc } = await started({ cache: { ttlMs: 5_000 } }, new FakeClock(), idp);
    const s = svc.getState();
    expect((s.freshUntil as number) - (s.fetchedAt as number)).toBe(5_000);
  });
});
