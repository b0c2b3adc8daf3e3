import { initialKeySetState, type KeySetState } from '../../lib/cache/key-set.state';
import { boundSharedState, combineStates, fetchStillNeeded, invalidation, withChanges } from '../../lib/cache/fleet.policy';
import { onFetchFailure, onFetchSuccess, onInvalidate, onKeyRevoked, type KeySetPolicyOptions } from '../../lib/cache/key-set.policy';

const opts: KeySetPolicyOptions = {
  ttlMs: 600_000,
  cooldownMs: 30_000,
  maxStaleMs: 86_400_000,
  refreshAheadMs: 30_000,
  minTtlMs: 60_000,
  maxTtlMs: 3_600_000,
  maxRetryAfterMs: 600_000,
  backoffBaseMs: 1_000,
  backoffMaxMs: 30_000,
  unavailableRetryMaxMs: 5_000,
  maxWaiters: 512,
  maxWaitMs: 2_000,
};
const T = 1_700_000_000_000;
const SET_A = JSON.stringify({ keys: [{ kid: 'a' }] });
const SET_B = JSON.stringify({ keys: [{ kid: 'b' }] });
const fetched = (state: KeySetState, jwks: string, at: number) => onFetchSuccess(state, at, opts, { jwks, etag: null });

describe('fleet policy', () => {
  describe('combineStates', () => {
    const base = fetched(initialKeySetState(), SET_A, T);

    it('takes the set of the later outcome by revision, even when both were fetched in the same millisecond', () => {
      const newer = fetched(base, SET_B, T); // same ms, one revision later
      expect(combineStates(base, newer).jwks).toBe(SET_B);
      expect(combineStates(newer, base).jwks).toBe(SET_B);
    });

    it('keeps the set but takes a later failure: one backoff and Retry-After for the fleet', () => {
      const failed = onFetchFailure(base, T + 1_000, opts, { code: 'E', kind: 'status', message: 'm', status: 429, retryAfterMs: 120_000 }, 0.5);
      const c = combineStates(base, failed);
      expect(c).toMatchObject({ jwks: SET_A, failures: 1, notBefore: T + 1_000 + 120_000, revision: 2, setRevision: 1 });
    });

    it('takes the latest unknown-kid fetch of either side: one cooldown for the fleet', () => {
      const local = { ...base, lastUnknownKidFetchAt: T + 5 };
      const shared = { ...base, lastUnknownKidFetchAt: T + 9 };
      expect(combineStates(local, shared).lastUnknownKidFetchAt).toBe(T + 9);
      expect(combineStates(shared, local).lastUnknownKidFetchAt).toBe(T + 9);
    });

    it('takes the revocation list from the shared side (the caller adds its unshared changes)', () => {
      const local = onKeyRevoked(base, 'x');
      expect(combineStates(local, base).revokedKids).toEqual([]);
      expect(withChanges(combineStates(local, base), [(s) => onKeyRevoked(s, 'x')]).revokedKids).toEqual(['x']);
    });

    it('keeps an invalidation open until a set arrives whose fetch started after it, on any process', () => {
      const invalidated = onInvalidate(base, T + 10);
      let c = combineStates(base, invalidated);
      expect(c).toMatchObject({ mustRevalidate: true, invalidations: 1, setInvalidations: 0 });
      // A fetch that started before the call (another process's, in flight) does not answer it.
      const older = onFetchSuccess(base, T + 20, opts, { jwks: SET_A, etag: null }, { answersInvalidation: true, invalidationsAtStart: 0 });
      expect(combineStates(c, older).mustRevalidate).toBe(true);
      // One that started after it does.
      const after = onFetchSuccess(invalidated, T + 30, opts, { jwks: SET_A, etag: null }, { answersInvalidation: true, invalidationsAtStart: 1 });
      c = combineStates(c, after);
      expect(c).toMatchObject({ mustRevalidate: false, setInvalidations: 1 });
      // A mustRevalidate with no invalidation to answer opens nothing.
      expect(combineStates(base, { ...base, mustRevalidate: true }).mustRevalidate).toBe(false);
    });
  });

  describe('invalidation', () => {
    it('counts as the n-th invalidation; a state that has counted it already is left as it is', () => {
      const base = fetched(initialKeySetState(), SET_A, T);
      expect(invalidation(1)(base)).toMatchObject({ mustRevalidate: true, invalidations: 1 });
      const counted = { ...base, invalidations: 1, setInvalidations: 1 };
      expect(invalidation(1)(counted)).toBe(counted); // the same revalidation, answered already
      expect(invalidation(1)(initialKeySetState())).toEqual(initialKeySetState()); // nothing held: nothing to revalidate
    });
  });

  describe('boundSharedState', () => {
    const base = fetched(initialKeySetState(), SET_A, T);

    it('caps freshness at maxTtlMs after the fetch and a wait at the longest this process honours, from stored moments', () => {
      const year = 365 * 86_400_000;
      const greedy = { ...base, freshUntil: T + year, notBefore: T + year, failures: 1, lastError: { code: 'E', kind: 'status', message: 'm', at: T } };
      for (const now of [T, T + 5 * 60_000]) {
        const b = boundSharedState(greedy, now, opts, 60_000)!;
        expect(b.freshUntil).toBe(T + opts.maxTtlMs);
        expect(b.notBefore).toBe(T + opts.maxRetryAfterMs); // the same at every reading
      }
    });

    it('takes a moment within the skew as now, and refuses a state with one beyond it', () => {
      expect(boundSharedState({ ...base, lastUnknownKidFetchAt: T + 500 }, T, opts, 60_000)!.lastUnknownKidFetchAt).toBe(T);
      expect(boundSharedState({ ...base, lastUnknownKidFetchAt: T + 60_001 }, T, opts, 60_000)).toBeNull();
      expect(boundSharedState({ ...base, fetchedAt: T + 3_600_000 }, T, opts, 60_000)).toBeNull();
    });

    it('refuses counts no fleet reaches: counting on from them would pass what a store takes back', () => {
      expect(boundSharedState({ ...base, revision: 2 ** 32 }, T, opts, 60_000)).not.toBeNull();
      expect(boundSharedState({ ...base, revision: 2 ** 32 + 1 }, T, opts, 60_000)).toBeNull();
      expect(boundSharedState({ ...base, invalidations: 2 ** 32 + 1 }, T, opts, 60_000)).toBeNull();
    });
  });

  describe('fetchStillNeeded', () => {
    const base = fetched(initialKeySetState(), SET_A, T);

    it('is answered by any outcome after the flight started, a failure included', () => {
      const flight = { reason: 'manual' as const, revision: base.revision, force: false };
      expect(fetchStillNeeded(base, T, opts, flight)).toBe(true);
      const failed = onFetchFailure(base, T, opts, { code: 'E', kind: 'network', message: 'm' }, 0.5);
      expect(fetchStillNeeded(failed, T, opts, flight)).toBe(false);
    });

    it('unknown kid: not inside the fleet cooldown or backoff', () => {
      const flight = { reason: 'unknown-kid' as const, revision: base.revision, force: false };
      expect(fetchStillNeeded(base, T + 1, opts, flight)).toBe(true);
      expect(fetchStillNeeded({ ...base, lastUnknownKidFetchAt: T }, T + 1, opts, flight)).toBe(false);
      expect(fetchStillNeeded({ ...base, notBefore: T + 10 }, T + 1, opts, flight)).toBe(false);
    });

    it('warm-up and background: only when the set is due; manual with force ignores the backoff', () => {
      const warm = { reason: 'warm-up' as const, revision: base.revision, force: false };
      expect(fetchStillNeeded(base, T + 1, opts, warm)).toBe(false);
      expect(fetchStillNeeded(base, T + opts.ttlMs - opts.refreshAheadMs, opts, warm)).toBe(true);
      const backingOff = { ...base, notBefore: T + 50 };
      expect(fetchStillNeeded(backingOff, T, opts, { reason: 'manual', revision: base.revision, force: false })).toBe(false);
      expect(fetchStillNeeded(backingOff, T, opts, { reason: 'manual', revision: base.revision, force: true })).toBe(true);
    });
  });
});
