import { servesFromMemory, decideLookup, decideRefresh, onKeyRevoked, onKeyRestored, nextRefreshAt, onFetchFailure, onFetchStart, onFetchSuccess, onInvalidate, phaseOf, backoffDelay, type KeySetPolicyOptions } from '../../lib/cache/key-set.policy';
import { initialKeySetState } from '../../lib/cache/key-set.state';

const opts: KeySetPolicyOptions = { ttlMs: 600_000, cooldownMs: 30_000, maxStaleMs: 3_600_000, refreshAheadMs: 30_000, minTtlMs: 60_000, maxTtlMs: 3_600_000, maxRetryAfterMs: 600_000, backoffBaseMs: 1_000, backoffMaxMs: 60_000, unavailableRetryMaxMs: 5_000, maxWaiters: 100, maxWaitMs: 2_000 };
const T0 = 1_000_000;
const loaded = () => onFetchSuccess(initialKeySetState(), T0, opts, { jwks: '{"keys":[]}', etag: null });

describe('key-set policy (pure)', () => {
  it('walks the phases empty → fresh → stale → expired', () => {
    expect(phaseOf(initialKeySetState(), T0, opts)).toBe('empty');
    const s = loaded();
    expect(phaseOf(s, T0 + opts.ttlMs - 1, opts)).toBe('fresh');
    expect(phaseOf(s, T0 + opts.ttlMs, opts)).toBe('stale');
    expect(phaseOf(s, T0 + opts.ttlMs + opts.maxStaleMs, opts)).toBe('expired');
  });

  it('hits a known kid in fresh and stale phases, never in expired', () => {
    const s = loaded();
    expect(decideLookup(s, T0 + 1, opts, { known: true, inFlight: false })).toEqual({ action: 'hit' });
    expect(decideLookup(s, T0 + opts.ttlMs + 5, opts, { known: true, inFlight: false })).toEqual({ action: 'hit' });
    expect(decideLookup(s, T0 + opts.ttlMs + opts.maxStaleMs, opts, { known: true, inFlight: false })).toEqual({ action: 'fetch', reason: 'empty' });
  });

  it('refetches an unknown kid once, then fails fast inside the cooldown', () => {
    let s = loaded();
    const d = decideLookup(s, T0 + 10, opts, { known: false, inFlight: false });
    expect(d).toEqual({ action: 'fetch', reason: 'unknown-kid' });
    s = onFetchStart(s, T0 + 10, 'unknown-kid');
    expect(decideLookup(s, T0 + 11, opts, { known: false, inFlight: true })).toEqual({ action: 'join' });
    expect(decideLookup(s, T0 + 11 + 1_000, opts, { known: false, inFlight: false })).toEqual({ action: 'fail', reason: 'cooldown' });
    expect(decideLookup(s, T0 + 10 + opts.cooldownMs, opts, { known: false, inFlight: false })).toEqual({ action: 'fetch', reason: 'unknown-kid' });
  });

  it('does not refetch for a caller who already waited for a fetch', () => {
    const s = loaded();
    expect(decideLookup(s, T0 + 10, opts, { known: false, inFlight: false, afterFetch: true })).toEqual({ action: 'fail', reason: 'not-found' });
  });

  it('backs off exponentially with full jitter, capped, and honours Retry-After when later', () => {
    expect(backoffDelay(1, opts, 0.999, opts.backoffMaxMs)).toBeLessThanOrEqual(1_000);
    expect(backoffDelay(3, opts, 0.999, opts.backoffMaxMs)).toBeGreaterThan(3_000);
    expect(backoffDelay(30, opts, 0.999, opts.backoffMaxMs)).toBeLessThanOrEqual(60_000);
    expect(backoffDelay(30, opts, 0, opts.backoffMaxMs)).toBeGreaterThan(0);
    let s = onFetchFailure(loaded(), T0, opts, { code: 'X', kind: 'status', message: 'm', status: 429, retryAfterMs: 120_000 }, 0.5);
    expect(s.notBefore).toBe(T0 + 120_000);
    expect(decideLookup(s, T0 + 60_000, opts, { known: false, inFlight: false })).toEqual({ action: 'fail', reason: 'backoff' });
    s = onFetchFailure(s, T0, opts, { code: 'X', kind: 'status', message: 'm', status: 500 }, 0.5);
    expect(s.failures).toBe(2);
    expect(s.notBefore).toBeLessThanOrEqual(T0 + 2_000);
  });

  it('clamps a server-given max-age to [minTtlMs, maxTtlMs] and uses ttlMs when none was given', () => {
    const at = (maxAgeMs?: number) => onFetchSuccess(initialKeySetState(), T0, opts, { jwks: '{}', etag: null, maxAgeMs }).freshUntil - T0;
    expect(at(undefined)).toBe(opts.ttlMs);
    expect(at(120_000)).toBe(120_000);
    expect(at(0)).toBe(opts.minTtlMs);
    expect(at(86_400_000)).toBe(opts.maxTtlMs);
  });

  it('lets only 429 and 503 ask us to wait, and never longer than maxRetryAfterMs', () => {
    const fail = (status: number, retryAfterMs: number) =>
      onFetchFailure(loaded(), T0, opts, { code: 'X', kind: 'status', message: 'm', status, retryAfterMs }, 0).notBefore - T0;
    expect(fail(429, 5_000)).toBe(5_000);
    expect(fail(503, 5_000)).toBe(5_000);
    expect(fail(500, 5_000)).toBeLessThan(5_000);
    expect(fail(429, 10 * 86_400_000)).toBe(opts.maxRetryAfterMs);
  });

  it('keeps the last good set through failures', () => {
    const s = onFetchFailure(loaded(), T0 + opts.ttlMs + 1, opts, { code: 'X', kind: 'timeout', message: 'm' }, 0.5);
    expect(s.jwks).not.toBeNull();
    expect(decideLookup(s, T0 + opts.ttlMs + 2, opts, { known: true, inFlight: false })).toEqual({ action: 'hit' });
  });

  it('invalidation makes lookups of even a known kid wait until a fetch started after it answers', () => {
    const s = onInvalidate(loaded(), T0 + 5);
    expect(phaseOf(s, T0 + 5, opts)).toBe('stale');
    expect(decideLookup(s, T0 + 6, opts, { known: true, inFlight: false })).toEqual({ action: 'fetch', reason: 'revalidate' });
    // A fetch that started before the invalidation does not answer it: look again, even after waiting.
    const stale = onFetchSuccess(s, T0 + 7, opts, { jwks: '{"keys":[]}', etag: null }, { answersInvalidation: false });
    expect(stale.mustRevalidate).toBe(true);
    expect(decideLookup(stale, T0 + 8, opts, { known: true, inFlight: false, afterFetch: true })).toEqual({ action: 'fetch', reason: 'revalidate' });
    expect(nextRefreshAt(stale, T0 + 8, opts, 0.5)).toBe(T0 + 8);
    const staleFailure = onFetchFailure(s, T0 + 7, opts, { code: 'X', kind: 'timeout', message: 'm' }, 0.5, { answersInvalidation: false });
    expect(staleFailure.mustRevalidate).toBe(true);
    // One that started after it does, success or failure (the old set then serves as last-known-good).
    const answered = onFetchSuccess(s, T0 + 9, opts, { jwks: '{"keys":[]}', etag: null }, { answersInvalidation: true });
    expect(decideLookup(answered, T0 + 10, opts, { known: true, inFlight: false, afterFetch: true })).toEqual({ action: 'hit' });
    const failed = onFetchFailure(s, T0 + 9, opts, { code: 'X', kind: 'timeout', message: 'm' }, 0.5, { answersInvalidation: true });
    expect(decideLookup(failed, T0 + 10, opts, { known: true, inFlight: false, afterFetch: true })).toEqual({ action: 'hit' });
  });

  it('refuses at once instead of holding more than maxWaiters requests for a fetch', () => {
    const s = onFetchStart(loaded(), T0 + 10, 'unknown-kid');
    expect(decideLookup(s, T0 + 11, opts, { known: false, inFlight: true, waiters: opts.maxWaiters - 1 })).toEqual({ action: 'join' });
    expect(decideLookup(s, T0 + 11, opts, { known: false, inFlight: true, waiters: opts.maxWaiters })).toEqual({ action: 'fail', reason: 'busy' });
    expect(decideLookup(initialKeySetState(), T0, opts, { known: false, inFlight: true, waiters: opts.maxWaiters })).toEqual({ action: 'fail', reason: 'unavailable' });
    // A known kid never waits, however many others do.
    expect(decideLookup(s, T0 + 11, opts, { known: true, inFlight: true, waiters: 10 * opts.maxWaiters })).toEqual({ action: 'hit' });
  });

  it('caps the backoff at backoffMaxMs while a set is held, and at a few seconds while none is', () => {
    let held = loaded();
    let empty = initialKeySetState();
    for (let i = 0; i < 20; i++) {
      held = onFetchFailure(held, T0, opts, { code: 'X', kind: 'network', message: 'm' }, 0.999);
      empty = onFetchFailure(empty, T0, opts, { code: 'X', kind: 'network', message: 'm' }, 0.999);
    }
    expect(held.notBefore - T0).toBeLessThanOrEqual(opts.backoffMaxMs);
    expect(held.notBefore - T0).toBeGreaterThan(opts.unavailableRetryMaxMs);
    expect(empty.notBefore - T0).toBeLessThanOrEqual(opts.unavailableRetryMaxMs);
    // ...still honouring the IdP's Retry-After
    const asked = onFetchFailure(empty, T0, opts, { code: 'X', kind: 'status', message: 'm', status: 429, retryAfterMs: 90_000 }, 0.5);
    expect(asked.notBefore).toBe(T0 + 90_000);
  });

  it('lets refresh() through the cooldown but not through Retry-After or the backoff, unless forced', () => {
    let s = onFetchStart(loaded(), T0 + 10, 'unknown-kid');
    expect(decideRefresh(s, T0 + 11, false)).toEqual({ action: 'fetch' });
    s = onFetchFailure(s, T0 + 20, opts, { code: 'X', kind: 'status', message: 'm', status: 429, retryAfterMs: 600_000 }, 0.5);
    expect(decideRefresh(s, T0 + 30, false)).toEqual({ action: 'defer', waitMs: 600_000 - 10 });
    expect(decideRefresh(s, T0 + 30, true)).toEqual({ action: 'fetch' });
    expect(decideRefresh(s, T0 + 20 + 600_000, false)).toEqual({ action: 'fetch' });
  });

  it('keeps revoked kids through any fetch until restored', () => {
    let s = onKeyRevoked(loaded(), 'k1');
    s = onFetchSuccess(s, T0 + 5, opts, { jwks: '{"keys":[{"kid":"k1"}]}', etag: null });
    expect(s.revokedKids).toEqual(['k1']);
    expect(onKeyRevoked(s, 'k1')).toBe(s);
    s = onKeyRestored(s, 'k1');
    expect(s.revokedKids).toEqual([]);
  });

  it('serves from memory only while the set is usable and not invalidated', () => {
    const s = loaded();
    expect(servesFromMemory(initialKeySetState(), T0, opts)).toBe(false);
    expect(servesFromMemory(s, T0 + opts.ttlMs + 1, opts)).toBe(true);
    expect(servesFromMemory(s, T0 + opts.ttlMs + opts.maxStaleMs, opts)).toBe(false);
    expect(servesFromMemory(onInvalidate(s, T0 + 1), T0 + 2, opts)).toBe(false);
  });

  it('schedules refresh ahead of expiry with jitter, and retries at the backoff after a failure', () => {
    const s = loaded();
    const early = nextRefreshAt(s, T0, opts, 0);
    const late = nextRefreshAt(s, T0, opts, 0.999);
    expect(early).toBe(T0 + opts.ttlMs - opts.refreshAheadMs);
    expect(late).toBeLessThan(T0 + opts.ttlMs);
    expect(late).toBeGreaterThan(early);
    const failed = onFetchFailure(s, T0 + 100, opts, { code: 'X', kind: 'network', message: 'm' }, 0.5);
    expect(nextRefreshAt(failed, T0 + 100, opts, 0.5)).toBe(failed.notBefore);
  });
});
