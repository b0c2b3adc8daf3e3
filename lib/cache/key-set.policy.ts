import type { KeySetError, KeySetState } from './key-set.state.js';

/**
 * The key-set policy: pure functions of (state, now, options) with no I/O, no Nest and no timers.
 * The service carries out what these decide. See shared/DESIGN.md for the phases.
 */

export interface KeySetPolicyOptions {
  ttlMs: number;
  cooldownMs: number;
  maxStaleMs: number;
  refreshAheadMs: number;
  minTtlMs: number;
  maxTtlMs: number;
  maxRetryAfterMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
}

export type KeySetPhase = 'empty' | 'fresh' | 'stale' | 'expired';

export function phaseOf(state: KeySetState, now: number, opts: KeySetPolicyOptions): KeySetPhase {
  if (state.jwks === null) return 'empty';
  if (now < state.freshUntil) return 'fresh';
  if (now < state.freshUntil + opts.maxStaleMs) return 'stale';
  return 'expired';
}

/** True while the held set may still verify tokens (fresh or stale). */
export function isUsable(state: KeySetState, now: number, opts: KeySetPolicyOptions): boolean {
  const phase = phaseOf(state, now, opts);
  return phase === 'fresh' || phase === 'stale';
}

/**
 * True when a known kid may be served straight from memory, with no decision to take: the set is
 * usable and not invalidated. The per-request fast path and the verified-token cache ask this.
 */
export function servesFromMemory(state: KeySetState, now: number, opts: KeySetPolicyOptions): boolean {
  return !state.mustRevalidate && isUsable(state, now, opts);
}

export function isCoolingDown(state: KeySetState, now: number, opts: KeySetPolicyOptions): boolean {
  return state.lastUnknownKidFetchAt !== null && now - state.lastUnknownKidFetchAt < opts.cooldownMs;
}

export type LookupDecision =
  /** Use the key from the held set. */
  | { action: 'hit' }
  /** Wait for the fetch already in flight, then look again. */
  | { action: 'join' }
  /** Start a fetch (single flight), wait for it, then look again. */
  | { action: 'fetch'; reason: 'empty' | 'unknown-kid' | 'revalidate' }
  /** Refuse at once: no fetch, no waiting. */
  | { action: 'fail'; reason: 'cooldown' | 'backoff' | 'unavailable' | 'not-found' };

/**
 * What to do for one key lookup.
 * @param known whether the held, usable set contains the kid
 * @param inFlight whether a fetch is under way
 * @param afterFetch true on the second look, after a fetch this caller waited for
 */
export function decideLookup(
  state: KeySetState,
  now: number,
  opts: KeySetPolicyOptions,
  known: boolean,
  inFlight: boolean,
  afterFetch = false,
): LookupDecision {
  const usable = isUsable(state, now, opts);
  if (state.mustRevalidate && !afterFetch) {
    if (inFlight) return { action: 'join' };
    if (now >= state.notBefore) return { action: 'fetch', reason: 'revalidate' };
    // Backing off: fall through and serve the last good set rather than fail everyone.
  }
  if (known && usable) return { action: 'hit' };
  if (afterFetch) return { action: 'fail', reason: usable ? 'not-found' : 'unavailable' };
  if (inFlight) return { action: 'join' };
  if (now < state.notBefore) return { action: 'fail', reason: usable ? 'backoff' : 'unavailable' };
  if (!usable) return { action: 'fetch', reason: 'empty' };
  if (isCoolingDown(state, now, opts)) return { action: 'fail', reason: 'cooldown' };
  return { action: 'fetch', reason: 'unknown-kid' };
}

/** State change when a fetch starts. */
export function onFetchStart(state: KeySetState, now: number, reason: 'unknown-kid' | string): KeySetState {
  return {
    ...state,
    lastAttemptAt: now,
    lastUnknownKidFetchAt: reason === 'unknown-kid' ? now : state.lastUnknownKidFetchAt,
  };
}

/** Freshness lifetime: the server's max-age clamped to [minTtlMs, maxTtlMs] when it gave one, else ttlMs. */
export function freshFor(opts: KeySetPolicyOptions, maxAgeMs: number | undefined): number {
  if (maxAgeMs === undefined) return opts.ttlMs;
  return Math.min(opts.maxTtlMs, Math.max(opts.minTtlMs, maxAgeMs));
}

export function onFetchSuccess(
  state: KeySetState,
  now: number,
  opts: KeySetPolicyOptions,
  result: { jwks: string; etag: string | null; maxAgeMs?: number },
): KeySetState {
  return {
    ...state,
    jwks: result.jwks,
    etag: result.etag,
    fetchedAt: now,
    freshUntil: now + freshFor(opts, result.maxAgeMs),
    mustRevalidate: false,
    failures: 0,
    notBefore: 0,
    lastError: null,
    fetchCount: state.fetchCount + 1,
  };
}

export function onNotModified(
  state: KeySetState,
  now: number,
  opts: KeySetPolicyOptions,
  result: { etag: string | null; maxAgeMs?: number },
): KeySetState {
  if (state.jwks === null) return state;
  return {
    ...state,
    etag: result.etag ?? state.etag,
    fetchedAt: now,
    freshUntil: now + freshFor(opts, result.maxAgeMs),
    mustRevalidate: false,
    failures: 0,
    notBefore: 0,
    lastError: null,
    fetchCount: state.fetchCount + 1,
    notModifiedCount: state.notModifiedCount + 1,
  };
}

/** Exponential backoff with full jitter (AWS architecture blog), capped. */
export function backoffDelay(failures: number, opts: KeySetPolicyOptions, random: number): number {
  const ceiling = Math.min(opts.backoffMaxMs, opts.backoffBaseMs * 2 ** Math.min(failures - 1, 30));
  // Never zero: a failure must always cost at least a little time before the next attempt.
  return Math.max(opts.backoffBaseMs / 2, Math.floor(random * ceiling));
}

export function onFetchFailure(
  state: KeySetState,
  now: number,
  opts: KeySetPolicyOptions,
  error: Omit<KeySetError, 'at'> & { retryAfterMs?: number },
  random: number,
): KeySetState {
  const failures = state.failures + 1;
  const backoffUntil = now + backoffDelay(failures, opts, random);
  // Only a rate limit (429) or an overloaded server (503) may ask us to wait, and never for longer than the cap.
  const asked = error.status === 429 || error.status === 503 ? error.retryAfterMs : undefined;
  const serverUntil = asked !== undefined ? now + Math.min(asked, opts.maxRetryAfterMs) : 0;
  const { retryAfterMs: _ignored, ...plain } = error;
  return {
    ...state,
    // A failed revalidation keeps serving the last good set: availability over a manual hint.
    mustRevalidate: false,
    failures,
    notBefore: Math.max(backoffUntil, serverUntil),
    lastError: { ...plain, at: now },
    fetchCount: state.fetchCount + 1,
  };
}

/** State restored from a snapshot file at bootstrap, when the first fetch failed. Failures and backoff are kept. */
export function onSnapshotRestored(
  state: KeySetState,
  snapshot: { jwks: string; fetchedAt: number; etag: string | null; freshUntil: number },
): KeySetState {
  return { ...state, jwks: snapshot.jwks, fetchedAt: snapshot.fetchedAt, etag: snapshot.etag, freshUntil: snapshot.freshUntil };
}

/** The current set stops being fresh; the next lookup waits for a refetch. */
export function onInvalidate(state: KeySetState, now: number): KeySetState {
  if (state.jwks === null) return state;
  // notBefore stays: a manual invalidation must not bypass the IdP's Retry-After or our backoff.
  return { ...state, freshUntil: Math.min(state.freshUntil, now), mustRevalidate: true };
}

/**
 * When the background refresh should next run. A fresh set is refreshed shortly before it
 * stops being fresh, jittered over half the refresh-ahead window so a fleet does not refresh in
 * lockstep; anything else retries as soon as the backoff allows.
 */
export function nextRefreshAt(state: KeySetState, now: number, opts: KeySetPolicyOptions, random: number): number {
  if (state.jwks === null || state.failures > 0 || now >= state.freshUntil) {
    return Math.max(now, state.notBefore);
  }
  const lifetime = state.freshUntil - (state.fetchedAt ?? now);
  const ahead = Math.min(opts.refreshAheadMs, lifetime / 2);
  const at = state.freshUntil - ahead + Math.floor((random * ahead) / 2);
  return Math.max(now, state.notBefore, at);
}
