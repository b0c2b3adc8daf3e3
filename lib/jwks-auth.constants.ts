/**
 * Every default in one place, each with the reason for its value.
 * shared/REFERENCE.md records what other verifiers and identity providers do.
 */
export const JWKS_DEFAULTS = {
  /** Freshness of a fetched key set when the response says nothing: jose and jwks-rsa use 10 min. */
  ttlMs: 10 * 60_000,
  /**
   * Minimum gap between two refetches triggered by unknown `kid`s. 30 s (jose's value) bounds a
   * flood of made-up kids to two upstream requests a minute, and a real new key is refused for at
   * most this long after a rotation.
   */
  cooldownMs: 30_000,
  /** How long past freshness the last good set still verifies while refreshing fails: one day of IdP outage. */
  maxStaleMs: 24 * 60 * 60_000,
  /**
   * Lower bound on a server-given freshness (`Cache-Control: max-age`, `Expires`, `no-cache`):
   * a server saying "do not cache" would otherwise make us refetch continuously.
   */
  minTtlMs: 60_000,
  /**
   * Upper bound on a server-given freshness: a key the IdP revokes stops verifying at the next
   * refresh, so a day-long max-age must not mean a day-long revocation delay. Entra's guidance is
   * to refresh hourly.
   */
  maxTtlMs: 60 * 60_000,
  /** Longest wait we accept from `Retry-After`/`x-ratelimit-reset`, so a bogus header cannot stop refreshes for days. */
  maxRetryAfterMs: 10 * 60_000,
  /** Refresh this long before freshness ends, so requests never meet an expired set (Nimbus: 30 s). */
  refreshAheadMs: 30_000,
  /** First retry delay after a failed fetch; doubled per consecutive failure, with full jitter. */
  backoffBaseMs: 1_000,
  /** Longest backoff: one failing endpoint costs the IdP about one request a minute per process. */
  backoffMaxMs: 60_000,
  /** Whole-request timeout (connect, headers, body): jose's and express-oauth2-jwt-bearer's 5 s. */
  fetchTimeoutMs: 5_000,
  /** Largest JWKS body we read; real sets are a few KiB (Nimbus caps at 50 KiB). */
  maxResponseBytes: 512 * 1024,
  /**
   * Longest content type quoted in a fetch error (media type only, sanitised): every registered
   * media type fits, and a hostile header cannot fill the log.
   */
  maxLoggedContentTypeChars: 64,
  /** Most keys we keep from one set; IdPs publish 2 to 10. */
  maxKeys: 100,
  /** Tokens above this size are refused before any decoding: access tokens are well under 4 KiB. */
  maxTokenBytes: 8 * 1024,
  /** RS256 is what every IdP signs access tokens with by default. */
  algorithms: ['RS256'] as readonly string[],
  /**
   * Verified-token cache (when enabled): 10,000 entries of about 1 KiB each bound it to ~10 MiB;
   * 5 min keeps a client's repeated token hot while it is being reused.
   */
  verifiedTokenCacheMaxEntries: 10_000,
  verifiedTokenCacheTtlMs: 5 * 60_000,
  /** Clock skew allowed on exp/nbf/iat, in seconds; 0 unless the user says otherwise, as jose does. */
  clockToleranceSec: 0,
} as const;

/** Algorithms this module can verify: asymmetric only. HMAC and `none` are never accepted. */
export const SUPPORTED_ALGORITHMS = [
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA',
] as const;

/** Passport strategy name used by `JwksStrategy` and `JwksAuthGuard`. */
export const JWKS_STRATEGY_NAME = 'jwks';

/** Metadata key set by `@Public()`. */
export const IS_PUBLIC_KEY = 'jwks-auth:isPublic';

/** Injection token of the validated, defaulted options (`ResolvedJwksOptions`). */
export const JWKS_RESOLVED_OPTIONS = Symbol('JWKS_RESOLVED_OPTIONS');
/** Injection token of the `Clock` the cache runs on; override it with a `FakeClock` in tests. */
export const JWKS_CLOCK = Symbol('JWKS_CLOCK');
/** Injection token of the `JwksFetcher` that retrieves the raw key set. */
export const JWKS_FETCHER = Symbol('JWKS_FETCHER');
