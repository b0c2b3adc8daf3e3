/** Why the last fetch failed, as plain data (storable, shown in state and health). */
export interface KeySetError {
  code: string;
  kind: string;
  message: string;
  status?: number;
  at: number;
}

/**
 * Everything the policy knows about one issuer's key set, as plain JSON-serialisable data, so a
 * store (memory today, Redis for a fleet) can hold it and several processes can share it. The
 * parsed `KeyObject`s are derived from `jwks` per process and never stored.
 */
export interface KeySetState {
  /** Raw JSON text of the last good set, or null before the first success. */
  jwks: string | null;
  fetchedAt: number | null;
  etag: string | null;
  /** The set is fresh while now < freshUntil; 0 when there is no set. */
  freshUntil: number;
  /** Set by `invalidate()`: the next lookup waits for a refetch instead of trusting the set. */
  mustRevalidate: boolean;
  /**
   * How many fetch outcomes (a set, a 304, a failure) this key set has had; in a fleet, across
   * every process. Orders outcomes where clocks cannot: two processes' fetches in one millisecond,
   * or hosts whose clocks differ.
   */
  revision: number;
  /** `revision` of the outcome that brought or confirmed the held set (0: none yet). */
  setRevision: number;
  /** How many times `invalidate()` was called on this key set (in a fleet, on any process). */
  invalidations: number;
  /**
   * `invalidations` when the fetch that brought or confirmed the held set started: the set answers
   * every invalidation up to that count, and none made after its fetch began (on any process).
   */
  setInvalidations: number;
  lastAttemptAt: number | null;
  /** When the last refetch triggered by an unknown kid started; the cooldown counts from here. */
  lastUnknownKidFetchAt: number | null;
  /** Consecutive failed fetches. */
  failures: number;
  /** Earliest next upstream attempt (backoff, Retry-After, x-ratelimit-reset). */
  notBefore: number;
  lastError: KeySetError | null;
  /**
   * Kids refused by `revokeKey()` whatever the IdP publishes, until `restoreKey()`. Part of the
   * key set's state (not of one fetch), so a refetch that still lists a kid cannot bring it back.
   */
  revokedKids: readonly string[];
  // Per-process counters (fetches made, 304s) are not here: a fleet shares this state, and each
  // process counts its own requests.
}

export function initialKeySetState(): KeySetState {
  return {
    jwks: null,
    fetchedAt: null,
    etag: null,
    freshUntil: 0,
    mustRevalidate: false,
    revision: 0,
    setRevision: 0,
    invalidations: 0,
    setInvalidations: 0,
    lastAttemptAt: null,
    lastUnknownKidFetchAt: null,
    failures: 0,
    notBefore: 0,
    lastError: null,
    revokedKids: [],
  };
}
