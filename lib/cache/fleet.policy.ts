import type { KeySetState } from './key-set.state.js';
import { isCoolingDown, nextRefreshAt, type FetchReason, type KeySetPolicyOptions } from './key-set.policy.js';

/**
 * The fleet-mode policy: pure functions of plain states, with no I/O and no timers. A fleet's
 * processes share one key-set state through a store (Redis); each keeps its own copy in memory
 * for lookups. These decide how a copy and the shared state combine, what a value read from the
 * store may claim, and whether a fetch one process wanted is still needed once another process
 * has fetched. `KeySetSource` carries them out.
 *
 * Outcomes are ordered by `revision` (a count of fetch outcomes the fleet shares), not by time:
 * two processes may fetch in one millisecond, and hosts' clocks differ. Times from other hosts
 * are only bounded (`boundSharedState`), never compared across processes to order events.
 */

/** A change to the shared state that one process made and the fleet must get (revoke, restore, invalidate). */
export type SharedChange = (state: KeySetState) => KeySetState;

/** What one fetch of this process was started for. */
export interface FleetFlight {
  readonly reason: FetchReason;
  /** The state's `revision` when the flight started: any later outcome, on any process, answers it. */
  readonly revision: number;
  /** `refresh({ force: true })`: ignores the backoff and `Retry-After`, never another process's answer. */
  readonly force: boolean;
}

/** The largest revision or invalidation count a shared state may plausibly hold. */
export const MAX_PLAUSIBLE_COUNT = 2 ** 32;

function later(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}

/** When a state last learnt how the upstream answered: a set fetched (or confirmed by a 304), or a failure. */
function lastOutcomeAt(state: KeySetState): number {
  return Math.max(state.fetchedAt ?? -1, state.lastError?.at ?? -1);
}

/** The state with the higher `by`; on a tie (two processes' outcomes at one count), the later `then`; still tied, the shared one. */
function newer(local: KeySetState, shared: KeySetState, by: (s: KeySetState) => number, then: (s: KeySetState) => number): KeySetState {
  const a = by(local);
  const b = by(shared);
  if (a !== b) return a > b ? local : shared;
  return then(local) > then(shared) ? local : shared;
}

/**
 * A state read from a shared store, held to what this process's own options allow, so that a
 * value written by a peer with other options, a peer whose clock runs ahead, or anyone with write
 * access to Redis cannot stop this process from refreshing: a set is fresh for at most `maxTtlMs`
 * after it was fetched, and a backoff lasts at most the longest this process would wait itself,
 * both counted from moments stored in the value (so reading it again does not extend them). Null
 * when a moment lies further in the future than `maxClockSkewMs` (no host wrote that, and a
 * cooldown counted from next week would refuse every new key until then), or a count is beyond
 * `MAX_PLAUSIBLE_COUNT`. A moment within the skew counts as now.
 */
export function boundSharedState(shared: KeySetState, now: number, opts: KeySetPolicyOptions, maxClockSkewMs: number): KeySetState | null {
  const latest = now + maxClockSkewMs;
  const moments = [shared.fetchedAt, shared.lastAttemptAt, shared.lastUnknownKidFetchAt, shared.lastError?.at ?? null];
  if (moments.some((t) => t !== null && t > latest)) return null;
  // Counts no fleet reaches (2^32 outcomes at one a second is 136 years): counting on from them
  // would soon pass what a store takes back, and every process's writes would be refused.
  if (shared.revision > MAX_PLAUSIBLE_COUNT || shared.invalidations > MAX_PLAUSIBLE_COUNT) return null;
  const notAfterNow = (t: number | null): number | null => (t === null ? null : Math.min(t, now));
  const fetchedAt = notAfterNow(shared.fetchedAt);
  const lastErrorAt = notAfterNow(shared.lastError?.at ?? null);
  const freshCap = fetchedAt === null ? 0 : fetchedAt + Math.max(opts.maxTtlMs, opts.ttlMs);
  // The wait is counted from the failure that asked for it (else from the last fetch): fixed in the value.
  const waitFrom = lastErrorAt ?? fetchedAt ?? notAfterNow(shared.lastAttemptAt) ?? 0;
  return {
    ...shared,
    fetchedAt,
    freshUntil: Math.min(shared.freshUntil, freshCap),
    // No failure on record, no reason to wait: a state this library writes clears both together.
    notBefore: shared.lastError === null && shared.failures === 0 ? 0 : Math.min(shared.notBefore, waitFrom + Math.max(opts.maxRetryAfterMs, opts.backoffMaxMs)),
    lastAttemptAt: notAfterNow(shared.lastAttemptAt),
    lastUnknownKidFetchAt: notAfterNow(shared.lastUnknownKidFetchAt),
    lastError: shared.lastError === null ? null : { ...shared.lastError, at: lastErrorAt as number },
  };
}

/**
 * This process's state and the shared one, combined: the key set of the latest outcome that
 * brought one, the latest outcome (so one `Retry-After` or backoff holds for the whole fleet), the
 * latest unknown-kid fetch (one cooldown for the fleet), the latest invalidation, and the shared
 * revocation list (the caller applies this process's unshared changes on top).
 *
 * An invalidation stays open until a set arrives whose fetch started after it (on any process):
 * a fetch already under way when `invalidate()` was called does not answer it, as in one process.
 */
export function combineStates(local: KeySetState, shared: KeySetState): KeySetState {
  const set = newer(local, shared, (s) => s.setRevision, (s) => s.fetchedAt ?? -1);
  const outcome = newer(local, shared, (s) => s.revision, lastOutcomeAt);
  const invalidations = Math.max(local.invalidations, shared.invalidations);
  const open = set.jwks !== null && set.setInvalidations < invalidations;
  return {
    jwks: set.jwks,
    fetchedAt: set.fetchedAt,
    etag: set.etag,
    freshUntil: set.freshUntil,
    setRevision: set.setRevision,
    setInvalidations: set.setInvalidations,
    mustRevalidate: open,
    invalidations,
    revision: Math.max(local.revision, shared.revision),
    lastAttemptAt: later(local.lastAttemptAt, shared.lastAttemptAt),
    failures: outcome.failures,
    notBefore: outcome.notBefore,
    lastError: outcome.lastError,
    lastUnknownKidFetchAt: later(local.lastUnknownKidFetchAt, shared.lastUnknownKidFetchAt),
    revokedKids: shared.revokedKids,
  };
}

/**
 * `invalidate()` as a change to the shared state: the key set's `count`-th invalidation. A shared
 * state that counts as many already has it (another process's call made at the same time is the
 * same revalidation); a set whose fetch started after it answers it.
 */
export function invalidation(count: number): SharedChange {
  return (state) => {
    if (state.jwks === null || state.invalidations >= count) return state;
    return { ...state, invalidations: count, mustRevalidate: state.setInvalidations < count };
  };
}

/** `state` with this process's changes not yet in the shared state applied on top, in the order they were made. */
export function withChanges(state: KeySetState, changes: Iterable<SharedChange>): KeySetState {
  let s = state;
  for (const change of changes) s = change(s);
  return s;
}

/**
 * Whether this process must still fetch for `flight`, now that `state` holds what the fleet
 * knows. Asked before the fetch lease is taken, after each result another process pushes while
 * this one waits, and again once the lease is held (the holder before may have just finished).
 * Any outcome since the flight started answers it, a failure included (its backoff then holds
 * for this process too): in a fleet, `refresh()` is answered by the first fetch outcome after the
 * call, on whichever process made it.
 */
export function fetchStillNeeded(state: KeySetState, now: number, opts: KeySetPolicyOptions, flight: FleetFlight): boolean {
  // A revalidation is answered only by a set fetched after the invalidation, which the state
  // says itself: an outcome of a fetch that started before it (on another process) does not count.
  if (flight.reason === 'revalidate') return state.mustRevalidate && now >= state.notBefore;
  if (state.revision > flight.revision) return false;
  switch (flight.reason) {
    case 'manual':
      return flight.force || now >= state.notBefore;
    // One unknown-kid fetch per cooldown for the whole fleet, never inside its backoff.
    case 'unknown-kid':
      return now >= state.notBefore && !isCoolingDown(state, now, opts);
    // Warm-up, background, empty: when the fleet's set is due for its refresh (the earliest point
    // of the jittered window: this process's timer fired, so the window has come for it).
    default:
      return nextRefreshAt(state, now, opts, 0) <= now;
  }
}
