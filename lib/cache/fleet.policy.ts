import type { KeySetState } from './key-set.state.js';
import { isCoolingDown, nextRefreshAt, type FetchReason, type KeySetPolicyOptions } from './key-set.policy.js';

/**
 * The fleet-mode policy: pure functions of plain states, with no I/O and no timers. A fleet's
 * processes share one key-set state through a store (Redis); each keeps its own copy in memory
 * for lookups. These decide how a copy and the shared state combine, what a value read from the
 * store may claim, and whether a fetch one process wanted is still needed once another process
 * has fetched. `KeySetSource` carries them out.
 *
 * Times in a shared state come from several hosts' clocks. They are compared as they are: hosts
 * kept in step by NTP differ by milliseconds, which shifts these decisions by as much.
 */

/** A change to the shared state that one process made and the fleet must get (revoke, restore, invalidate). */
export type SharedChange = (state: KeySetState) => KeySetState;

/** What one fetch of this process was started for. */
export interface FleetFlight {
  readonly reason: FetchReason;
  /** When it started, on this process's clock. */
  readonly startedAt: number;
  /** `refresh({ force: true })`: ignores the backoff and `Retry-After`, never another process's answer. */
  readonly force: boolean;
}

function later(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}

/** When a state last learnt how the upstream answered: a set fetched (or confirmed by a 304), or a failure. */
function lastOutcomeAt(state: KeySetState): number {
  return Math.max(state.fetchedAt ?? -1, state.lastError?.at ?? -1);
}

/**
 * A state read from a shared store, held to what this process's own options allow, so a value
 * written by a peer with other options, a peer whose clock runs ahead, or anyone with write access
 * to Redis cannot stop this process from refreshing: a set is fresh for at most `maxTtlMs` after
 * it was fetched, a wait is at most the longest this process would wait itself, and no moment
 * lies in the future (a cooldown counted from next week would refuse every new key until then).
 */
export function boundSharedState(shared: KeySetState, now: number, opts: KeySetPolicyOptions): KeySetState {
  const notAfterNow = (t: number | null): number | null => (t === null ? null : Math.min(t, now));
  const fetchedAt = notAfterNow(shared.fetchedAt);
  const freshCap = fetchedAt === null ? 0 : fetchedAt + Math.max(opts.maxTtlMs, opts.ttlMs);
  const lastError = shared.lastError === null ? null : { ...shared.lastError, at: Math.min(shared.lastError.at, now) };
  return {
    ...shared,
    fetchedAt,
    freshUntil: Math.min(shared.freshUntil, freshCap),
    notBefore: Math.min(shared.notBefore, now + Math.max(opts.maxRetryAfterMs, opts.backoffMaxMs)),
    lastAttemptAt: notAfterNow(shared.lastAttemptAt),
    lastUnknownKidFetchAt: notAfterNow(shared.lastUnknownKidFetchAt),
    invalidatedAt: notAfterNow(shared.invalidatedAt),
    lastError,
  };
}

/**
 * This process's state and the shared one, combined: the key set last fetched by anyone, the
 * outcome of the last upstream answer (so one `Retry-After` or backoff holds for the whole fleet),
 * the latest unknown-kid fetch (one cooldown for the fleet), the latest invalidation, and the
 * shared revocation list (this process's unshared changes are applied on top by the caller).
 *
 * An invalidation stays open unless the set was fetched after it; a set fetched on the process
 * that was invalidated keeps it open if that process says its fetch predates the call.
 */
export function combineStates(local: KeySetState, shared: KeySetState): KeySetState {
  // Equal times: the shared one, what the rest of the fleet holds.
  const set = (local.fetchedAt ?? -1) > (shared.fetchedAt ?? -1) ? local : shared;
  const outcome = lastOutcomeAt(local) > lastOutcomeAt(shared) ? local : shared;
  const invalidatedAt = later(local.invalidatedAt, shared.invalidatedAt);
  const open =
    invalidatedAt !== null && set.jwks !== null && ((set.fetchedAt ?? -1) < invalidatedAt || (set.mustRevalidate && set.invalidatedAt === invalidatedAt));
  return {
    jwks: set.jwks,
    fetchedAt: set.fetchedAt,
    etag: set.etag,
    freshUntil: open ? Math.min(set.freshUntil, invalidatedAt) : set.freshUntil,
    mustRevalidate: open,
    invalidatedAt,
    lastAttemptAt: later(local.lastAttemptAt, shared.lastAttemptAt),
    failures: outcome.failures,
    notBefore: outcome.notBefore,
    lastError: outcome.lastError,
    lastUnknownKidFetchAt: later(local.lastUnknownKidFetchAt, shared.lastUnknownKidFetchAt),
    revokedKids: shared.revokedKids,
  };
}

/**
 * `invalidate()` at `at`, as a change to the shared state: a set fetched after `at` (by any
 * process) already answers it, and a later invalidation stays the later one.
 */
export function invalidatedAtTime(at: number): SharedChange {
  return (state) => {
    if (state.jwks === null || (state.fetchedAt ?? -1) > at || (state.invalidatedAt ?? -1) >= at) return state;
    return { ...state, freshUntil: Math.min(state.freshUntil, at), mustRevalidate: true, invalidatedAt: at };
  };
}

/** `state` with this process's changes not yet in the shared state applied on top, in the order they were made. */
export function withChanges(state: KeySetState, changes: readonly SharedChange[]): KeySetState {
  let s = state;
  for (const change of changes) s = change(s);
  return s;
}

/**
 * Whether this process must still fetch for `flight`, now that `state` holds what the fleet
 * knows (another process may have fetched meanwhile, or be backing off). Asked before the fetch
 * lease is taken, after each result another process pushes while this one waits, and again once
 * the lease is held (the holder before may have just finished).
 */
export function fetchStillNeeded(state: KeySetState, now: number, opts: KeySetPolicyOptions, flight: FleetFlight): boolean {
  switch (flight.reason) {
    // An operator's refresh is answered only by a fetch that started after it.
    case 'manual':
      return (state.lastAttemptAt ?? -1) < flight.startedAt && (flight.force || now >= state.notBefore);
    // One unknown-kid fetch per cooldown for the whole fleet, never inside its backoff.
    case 'unknown-kid':
      return now >= state.notBefore && !isCoolingDown(state, now, opts);
    case 'revalidate':
      return state.mustRevalidate && now >= state.notBefore;
    // Warm-up, background, empty: when the fleet's set is due for its refresh (the earliest point
    // of the jittered window: this process's timer fired, so the window has come for it).
    default:
      return nextRefreshAt(state, now, opts, 0) <= now;
  }
}
