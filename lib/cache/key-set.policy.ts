import type { KeySetError, KeySetState } from './key-set.state.js';

/**
 * The key-set policy: pure functions of (state, now, options) with no I/O, no Nest and no timers.
 * The service carries out what these decide. See the README's "How the cache behaves".
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
  /** Backoff cap while a usable set is held (by default at most the cooldown). */
  backoffMaxMs: number;
  /** Backoff cap while no usable set is held: every request fails meanwhile, so retry soon. */
  unavailableRetryMaxMs: number;
  /** Most requests that may wait for a fetch at once. */
  maxWaiters: number;
  /** Longest a request waits for a fetch in flight. */
  maxWaitMs: number;
}

export type KeySetPhase = 'empty' | 'fresh' | 'stale' | 'expired';

/** Why a fetch was started. */
export type FetchReason = 'warm-up' | 'background' | 'empty' | 'unknown-kid' | 'revalidate' | 'manual';

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

/** What the caller knows about one key lookup, besides the state. */
export interface LookupContext {
  /** The held set contains the kid. */
  known: boolean;
  /** A fetch is under way. */
  inFlight: boolean;
  /** True on a later look, after a fetch this caller waited for: it never triggers a second unknown-kid fetch. */
  afterFetch?: boolean;
  /** Requests already waiting for a fetch. */
  waiters?: number;
}

/** Why a lookup is refused without a key. */
export type LookupFailure =
  /** Unknown kid inside the refetch cooldown. */
  | 'cooldown'
  /** Unknown kid while backing off after failures or honouring `Retry-After`. */
  | 'backoff'
  /** No usable set is held. */
  | 'unavailable'
  /** A fetch this caller waited for does not list the kid. */
  | 'not-found'
  /** Too many requests already wait for a fetch. */
  | 'busy';

export type LookupDecision =
  /** Use the key from the held set. */
  | { action: 'hit' }
  /** Wait for the fetch already in flight, then look again. */
  | { action: 'join' }
  /** Start a fetch (single flight), wait for it, then look again. */
  | { action: 'fetch'; reason: 'empty' | 'unknown-kid' | 'revalidate' }
  /** Refuse at once: no fetch, no waiting. */
  | { action: 'fail'; reason: LookupFailure };

/** What to do for one key lookup. */
export function decideLookup(state: KeySetState, now: number, opts: KeySetPolicyOptions, ctx: LookupContext): LookupDecision {
  const decision = decideLookupUnbounded(state, now, opts, ctx);
  // Waiting is bounded: past maxWaiters a request is not held in memory. A kid the usable set
  // knows (waiting only for a revalidation) is served as last-known-good; anything else is refused.
  if ((decision.action === 'join' || decision.action === 'fetch') && (ctx.waiters ?? 0) >= opts.maxWaiters) {
    const usable = isUsable(state, now, opts);
    if (usable && ctx.known) return { action: 'hit' };
    return { action: 'fail', reason: usable ? 'busy' : 'unavailable' };
  }
  return decision;
}

function decideLookupUnbounded(state: KeySetState, now: number, opts: KeySetPolicyOptions, ctx: LookupContext): LookupDecision {
  const usable = isUsable(state, now, opts);
  // An invalidation is answered only by a fetch that started after it (the service clears the
  // flag then), so even a caller that already waited looks again while it is set.
  if (state.mustRevalidate) {
    if (ctx.inFlight) return { action: 'join' };
    if (now >= state.notBefore) return { action: 'fetch', reason: 'revalidate' };
    // Backing off: fall through and serve the last good set rather than fail everyone.
  }
  if (ctx.known && usable) return { action: 'hit' };
  if (ctx.afterFetch) return { action: 'fail', reason: usable ? 'not-found' : 'unavailable' };
  if (ctx.inFlight) return { action: 'join' };
  if (now < state.notBefore) return { action: 'fail', reason: usable ? 'backoff' : 'unavailable' };
  if (!usable) return { action: 'fetch', reason: 'empty' };
  if (isCoolingDown(state, now, opts)) return { action: 'fail', reason: 'cooldown' };
  return { action: 'fetch', reason: 'unknown-kid' };
}

export type RefreshDecision =
  | { action: 'fetch' }
  /** The IdP's `Retry-After` or our backoff says to wait this long; nothing is fetched. */
  | { action: 'defer'; waitMs: number };

/**
 * `refresh()`: an operator's call bypasses the unknown-kid cooldown, never the IdP's own
 * `Retry-After` / `x-ratelimit-reset` or the backoff, unless forced.
 */
export function decideRefresh(state: KeySetState, now: number, force: boolean): RefreshDecision {
  if (force || now >= state.notBefore) return { action: 'fetch' };
  return { action: 'defer', waitMs: state.notBefore - now };
}

/** State change when a fetch starts. */
export function onFetchStart(state: KeySetState, now: number, reason: FetchReason): KeySetState {
  return {
    ...state,
    lastAttemptAt: now,
    lastUnknownKidFetchAt: reason === 'unknown-kid' ? now : state.lastUnknownKidFetchAt,
  };
}

/**
 * How a finished fetch relates to an invalidation: only a fetch that started after the last
 * `invalidate()` answers it. An older fetch's answer may predate the call (a revoked key).
 */
export interface FetchContext {
  answersInvalidation: boolean;
  /** `invalidations` when the fetch started (the set it brings answers those). Default: the state's now. */
  invalidationsAtStart?: number;
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
  ctx: FetchContext = { answersInvalidation: true },
): KeySetState {
  return {
    ...state,
    jwks: result.jwks,
    etag: result.etag,
    fetchedAt: now,
    revision: state.revision + 1,
    setRevision: state.revision + 1,
    setInvalidations: ctx.invalidationsAtStart ?? state.invalidations,
    freshUntil: now + freshFor(opts, result.maxAgeMs),
    mustRevalidate: state.mustRevalidate && !ctx.answersInvalidation,
    failures: 0,
    notBefore: 0,
    lastError: null,
  };
}

export function onNotModified(
  state: KeySetState,
  now: number,
  opts: KeySetPolicyOptions,
  result: { etag: string | null; maxAgeMs?: number },
  ctx: FetchContext = { answersInvalidation: true },
): KeySetState {
  if (state.jwks === null) return state;
  return {
    ...state,
    etag: result.etag ?? state.etag,
    fetchedAt: now,
    revision: state.revision + 1,
    setRevision: state.revision + 1,
    setInvalidations: ctx.invalidationsAtStart ?? state.invalidations,
    freshUntil: now + freshFor(opts, result.maxAgeMs),
    mustRevalidate: state.mustRevalidate && !ctx.answersInvalidation,
    failures: 0,
    notBefore: 0,
    lastError: null,
  };
}

/** Exponential backoff with full jitter (AWS architecture blog), capped at `cap`. */
export function backoffDelay(failures: number, opts: Pick<KeySetPolicyOptions, 'backoffBaseMs'>, random: number, cap: number): number {
  const ceiling = Math.min(cap, opts.backoffBaseMs * 2 ** Math.min(failures - 1, 30));
  // Never zero: a failure must always cost at least a little time before the next attempt.
  return Math.max(Math.min(opts.backoffBaseMs, cap) / 2, Math.floor(random * ceiling));
}

export function onFetchFailure(
  state: KeySetState,
  now: number,
  opts: KeySetPolicyOptions,
  error: Omit<KeySetError, 'at'> & { retryAfterMs?: number },
  random: number,
  ctx: FetchContext = { answersInvalidation: true },
): KeySetState {
  const failures = state.failures + 1;
  // With a usable set, the cap is backoffMaxMs (by default the cooldown, so a key published
  // after an outage waits at most that); without one every request fails, so retry within seconds.
  const cap = isUsable(state, now, opts) ? opts.backoffMaxMs : Math.min(opts.backoffMaxMs, opts.unavailableRetryMaxMs);
  const backoffUntil = now + backoffDelay(failures, opts, random, cap);
  // Only a rate limit (429) or an overloaded server (503) may ask us to wait, and never for longer than the cap.
  const asked = error.status === 429 || error.status === 503 ? error.retryAfterMs : undefined;
  const serverUntil = asked !== undefined ? now + Math.min(asked, opts.maxRetryAfterMs) : 0;
  const { retryAfterMs: _ignored, ...plain } = error;
  return {
    ...state,
    // A failed revalidation keeps serving the last good set: availability over a manual hint.
    // Only a fetch started after the invalidation counts as that revalidation.
    mustRevalidate: state.mustRevalidate && !ctx.answersInvalidation,
    revision: state.revision + 1,
    failures,
    notBefore: Math.max(backoffUntil, serverUntil),
    lastError: { ...plain, at: now },
  };
}

/** State restored from a snapshot file at bootstrap, when the first fetch failed. Failures and backoff are kept. */
export function onSnapshotRestored(
  state: KeySetState,
  snapshot: { jwks: string; fetchedAt: number; etag: string | null; freshUntil: number },
): KeySetState {
  return { ...state, jwks: snapshot.jwks, fetchedAt: snapshot.fetchedAt, etag: snapshot.etag, freshUntil: snapshot.freshUntil };
}

/**
 * The current set stops being fresh; the next lookup waits for a refetch that started after this
 * call. If that refetch fails, the old set keeps serving as last-known-good.
 */
export function onInvalidate(state: KeySetState, now: number): KeySetState {
  if (state.jwks === null) return state;
  // notBefore stays: a manual invalidation must not bypass the IdP's Retry-After or our backoff.
  return { ...state, freshUntil: Math.min(state.freshUntil, now), mustRevalidate: true, invalidations: state.invalidations + 1 };
}

/** The kid is refused from now on, whatever a refetch lists, until `onKeyRestored`. */
export function onKeyRevoked(state: KeySetState, kid: string): KeySetState {
  if (state.revokedKids.includes(kid)) return state;
  return { ...state, revokedKids: [...state.revokedKids, kid] };
}

export function onKeyRestored(state: KeySetState, kid: string): KeySetState {
  if (!state.revokedKids.includes(kid)) return state;
  return { ...state, revokedKids: state.revokedKids.filter((k) => k !== kid) };
}

/**
 * When the background refresh should next run. A fresh set is refreshed shortly before it
 * stops being fresh, jittered over half the refresh-ahead window so a fleet does not refresh in
 * lockstep; anything else (no set, failures, an invalidation not yet answered) retries as soon
 * as the backoff allows.
 */
export function nextRefreshAt(state: KeySetState, now: number, opts: KeySetPolicyOptions, random: number): number {
  if (state.jwks === null || state.failures > 0 || state.mustRevalidate || now >= state.freshUntil) {
    return Math.max(now, state.notBefore);
  }
  const lifetime = state.freshUntil - (state.fetchedAt ?? now);
  const ahead = Math.min(opts.refreshAheadMs, lifetime / 2);
  const at = state.freshUntil - ahead + Math.floor((random * ahead) / 2);
  return Math.max(now, state.notBefore, at);
}
