import type { ResolvedGrantClaims } from './authorization/grant-claims.mapper.js';

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
   * a server saying "do not cache" would otherwise make us refetch continuously. Never above
   * `ttlMs` unless the user sets it: a user who asks for a 5-s TTL must not get a 60-s one.
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
  /**
   * Longest backoff: one failing endpoint costs the IdP about one request a minute per process.
   * While a set is held, the default cap is also at most `cooldownMs`, so a new key published
   * after an outage is picked up within the cooldown, as promised, not after a minute of backoff.
   */
  backoffMaxMs: 60_000,
  /**
   * While no usable set is held (never fetched, or past `maxStaleMs`), every request fails, so
   * retries run at most this far apart (jittered; a `Retry-After` still wins): service resumes
   * within seconds of the IdP's return. One request per 5 s is far inside every IdP's limit.
   */
  unavailableRetryMaxMs: 5_000,
  /**
   * Most requests that may wait at once for a fetch in flight (an unknown kid, an empty set).
   * Beyond it they are refused at once: a hanging IdP must not pile up thousands of held requests
   * (each one an HTTP request in memory), whose simultaneous release stalls the event loop.
   */
  maxWaiters: 512,
  /**
   * Longest a request waits for a fetch in flight before it is refused (`ERR_JWKS_WAIT_TIMEOUT`).
   * A JWKS answers in well under a second; a request should not hang for the whole fetch timeout.
   */
  maxWaitMs: 2_000,
  /**
   * Longest the application's startup waits for the first fetch. The fetch carries on in the
   * background afterwards, so a hanging IdP delays a deploy by this, not by the fetch timeout.
   */
  warmupTimeoutMs: 3_000,
  /**
   * Status when no usable key set is held: 503, because the token is not at fault and a 401 makes
   * clients log in again against an IdP that is already down. `unavailableStatus: 401` keeps 401.
   */
  unavailableStatus: 503 as 401 | 503,
  /** Most kids `revokeKey()` holds: an operator's emergency list, not a data store. */
  maxRevokedKids: 1_000,
  /**
   * Most issuers one module serves (startup and `addIssuer()` together). Each costs a key set, a
   * timer and a background fetch per TTL (a few KiB; measured in the bench): 100 tenants is a
   * large SaaS on one module, and the bound keeps a bug that adds issuers in a loop from growing
   * memory and IdP traffic without end. Raise it with `maxIssuers`.
   */
  maxIssuers: 100,
  /** Whole-request timeout (connect, headers, body): jose's and express-oauth2-jwt-bearer's 5 s. */
  fetchTimeoutMs: 5_000,
  /** Largest JWKS body we read; real sets are a few KiB (Nimbus caps at 50 KiB). */
  maxResponseBytes: 512 * 1024,
  /**
   * Longest content type quoted in a fetch error (media type only, sanitised): every registered
   * media type fits, and a hostile header cannot fill the log.
   */
  maxLoggedContentTypeChars: 64,
  /**
   * Longest value from a discovery document (its `issuer`, a refused `jwks_uri`) quoted in an error,
   * sanitised to printable ASCII: real issuers and URLs fit, and a hostile document cannot fill the log.
   */
  maxLoggedDocumentValueChars: 100,
  /** Most keys we keep from one set; IdPs publish 2 to 10. */
  maxKeys: 100,
  /** Tokens above this size are refused before any decoding: access tokens are well under 4 KiB. */
  maxTokenBytes: 8 * 1024,
  /**
   * Longest Cookie header or query string scanned for a token (`token: { from: 'cookie' | 'query' }`);
   * longer ones are refused as malformed without being read. Twice Node's default limit for all
   * headers together (16 KiB): only a server with a raised limit sees more, and the scan per
   * request stays bounded whatever that limit is.
   */
  maxTokenSourceScanBytes: 32 * 1024,
  /**
   * Longest header, cookie or query parameter name accepted by the `token` option: real names are
   * a few dozen characters; the bound keeps the option from becoming a per-request cost.
   */
  maxTokenSourceNameChars: 256,
  /**
   * Most property steps in `microservice.token: { from: 'payload', path }`: a token sits one or two
   * levels deep (`headers.authorization`); the bound keeps a misconfiguration from walking deep.
   */
  maxPayloadPathSteps: 8,
  /**
   * Most entries scanned in a message's metadata or payload `headers` for the token (names match
   * in any letter case, so every key is looked at): Node's HTTP server keeps at most 2000 request
   * headers, so a forwarded `req.headers` fits; more is refused as malformed, not scanned.
   */
  maxMetadataEntries: 2000,
  /** RS256 is what every IdP signs access tokens with by default. */
  algorithms: ['RS256'] as readonly string[],
  /**
   * Verified-token cache (when enabled): 10,000 typical entries (~0.6 KiB of heap each) is ~6 MiB;
   * heavier claims meet the byte budget below first. 5 min keeps a client's repeated token hot
   * while it is being reused.
   */
  verifiedTokenCacheMaxEntries: 10_000,
  verifiedTokenCacheTtlMs: 5 * 60_000,
  /**
   * Byte budget of the verified-token cache (estimated heap cost of the cached claims): claims an
   * IdP signs can be built to be heap-heavy, so entries alone do not bound memory.
   */
  verifiedTokenCacheMaxBytes: 32 * 1024 * 1024,
  /** Claims estimated above this are verified every time, never cached; typical entries are under 1 KiB. */
  verifiedTokenCacheMaxEntryBytes: 16 * 1024,
  /** Clock skew allowed on exp/nbf/iat, in seconds; 0 unless the user says otherwise, as jose does. */
  clockToleranceSec: 0,
  /**
   * Largest clock tolerance accepted: an hour of skew is already a broken clock, and a larger
   * value is usually milliseconds given as seconds (30000 would make `exp` meaningless for 8 h).
   */
  maxClockToleranceSec: 3_600,
} as const;

/** Algorithms this module can verify: asymmetric only. HMAC and `none` are never accepted. */
export const SUPPORTED_ALGORITHMS = [
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA',
] as const;

/**
 * Fixed limits on what a key set or a token may cost (not options): each keeps what real IdPs
 * publish and sign, and bounds the CPU or memory a hostile key set or token can make us spend.
 */
export const JWKS_LIMITS = {
  /**
   * Keys kept under one `kid` (more are skipped at load): a kid names one key, and 2 still allows
   * a key listed twice or a kid reused across a rotation, while a junk token costs at most 2
   * signature checks instead of one per key in the set.
   */
  maxKeysPerKid: 2,
  /**
   * Largest RSA modulus: cloud KMS/HSMs (AWS, Google, Azure) and Keycloak generate at most 4096
   * bits. A verify costs about the square of the size: 16384 bits is ~50× a 2048-bit verify, 4096 ~2.5×.
   */
  maxRsaModulusBits: 4096,
  /**
   * Largest RSA public exponent: every IdP and KMS uses 65537 (FIPS 186-5's smallest allowed
   * above 2^16). A verify costs a multiplication or two per bit of `e`: 2^64−1 is ~5× more.
   */
  maxRsaPublicExponent: 65537,
  /**
   * Deepest JSON nesting of a token header or claims set (the object itself is level 1): IdPs nest
   * claims 4 levels at most (Keycloak's `resource_access.<client>.roles`); deeper is malformed.
   */
  maxJsonDepth: 32,
} as const;

/**
 * Hosts where plain `http:` is allowed (a JWKS, a discovery document, an issuer): loopback only,
 * for local development; anywhere else anyone on the path could swap the keys.
 */
export const LOOPBACK_HOSTS = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/**
 * Longest credential value a transport reads for a token (a graphql-ws `connectionParams` entry,
 * a message's metadata, also as bytes before decoding): a token over `maxTokenBytes` is refused
 * anyway, and the bound keeps a megabyte value from reaching the Bearer pattern or the decoder. The
 * margin covers `Bearer ` and surrounding spaces.
 */
export const MAX_TOKEN_VALUE_CHARS = JWKS_DEFAULTS.maxTokenBytes + 64;

/**
 * How `jwksGraphqlWsOnConnect` closes a refused connection: graphql-ws's own 4401 for a missing or
 * refused token (its client does not retry it), and RFC 6455's 1013 "Try Again Later" when no usable
 * key set is held (the token is not at fault; the client's retry logic may try again).
 */
export const GRAPHQL_WS_CLOSE = { unauthenticated: { code: 4401, reason: 'Unauthorized' }, unavailable: { code: 1013, reason: 'Try Again Later' } } as const;

/**
 * Defaults of `RedisKeySetStore`, the key-set store a fleet shares. Redis is never on the
 * per-request path, and its trouble never fails authentication: each call is bounded and falls
 * back to the process's own memory.
 */
export const REDIS_STORE_DEFAULTS = {
  /**
   * Prefix of every key and channel: one namespace in a Redis shared with other apps (the colon is
   * Redis's naming convention). Deployments sharing one Redis (staging, production) set their own.
   */
  keyPrefix: 'jwks-auth:',
  /**
   * Longest any Redis call may take before it counts as failed: a Redis on the same network answers
   * in about a millisecond, and a quarter of `maxWaitMs` leaves a request waiting on a fetch
   * lease the rest of its wait for the fetch itself when Redis hangs.
   */
  commandTimeoutMs: 500,
  /**
   * Largest state written or read back: the raw set (at most `maxResponseBytes`) and the revoked
   * kids (at most `maxRevokedKids` × 128 characters) twice over for JSON escaping; anything larger
   * is not a state this store wrote, and is refused before it is read in full.
   */
  maxStateBytes: 2 * (JWKS_DEFAULTS.maxResponseBytes + JWKS_DEFAULTS.maxRevokedKids * 128),
  /** One log line per kind of Redis trouble per minute: a Redis outage must not flood the log. */
  logIntervalMs: 60_000,
  /**
   * After a failed call, further calls fail at once for this long (then one goes through as a
   * probe; a reconnect ends it sooner): a hung Redis costs one command timeout per second, not one
   * per request that needs a fetch.
   */
  failFastMs: 1_000,
  /**
   * Bound on a call made before the first connection is ready (a cold start: DNS, TCP, TLS, AUTH
   * on a busy host): longer than `commandTimeoutMs`, so a slow first connect does not make a new
   * process fetch on its own, yet within `warmupTimeoutMs`. A refused connection fails at once anyway.
   */
  connectTimeoutMs: 2_000,
  /**
   * Tries of one `update` when other processes write in between: writes are rare (one per fetch
   * or operator action), so a handful of tries means Redis is being written in a loop.
   */
  maxUpdateAttempts: 5,
} as const;

/** Fleet mode (`fleet`): how the processes sharing one key set coordinate. */
export const FLEET_DEFAULTS = {
  /**
   * The fetch lease lapses this long after it was taken if its holder never releases it (the
   * process died): longer than the holder's fetch can take (discovery, then the keys, each within
   * `fetch.timeoutMs`), plus a second for the store write. Computed from the options by `fleetLeaseTtlMs`.
   */
  leaseMarginMs: 1_000,
  /**
   * While another process holds the lease, this one looks again this often (a pushed result ends
   * the wait sooner): a lost notice or a dead holder costs at most this much, and four processes
   * waiting cost Redis 40 small commands a second for the length of one fetch.
   */
  waitPollMs: 100,
  /**
   * A revocation, restoration or invalidation that could not reach the shared store (Redis down)
   * is retried this often until it does: it holds in this process meanwhile, and reaches the
   * fleet within this long of Redis's return.
   */
  changeRetryMs: 1_000,
  /**
   * How far ahead of this host's clock a moment in the shared state may lie: NTP keeps hosts
   * within milliseconds, so a minute ahead is no host's clock but a corrupt or planted value, and
   * the whole state is refused (a cooldown or backoff counted from the future would never end).
   */
  maxClockSkewMs: 60_000,
  /**
   * Most operator changes one process holds for the fleet while its store is unreachable (one per
   * kid, the latest winning): room for every kid revoked and as many restored; beyond it
   * `revokeKey()`/`restoreKey()` refuse rather than grow without bound.
   */
  maxUnsharedChanges: 2 * JWKS_DEFAULTS.maxRevokedKids,
} as const;

/** How long the fetch lease lives: the holder's longest fetch (discovery and keys) plus a margin. */
export function fleetLeaseTtlMs(fetchTimeoutMs: number): number {
  return 2 * fetchTimeoutMs + FLEET_DEFAULTS.leaseMarginMs;
}

/** Default Passport strategy name of `JwksStrategy` (`strategyName` changes it per registration). */
export const JWKS_STRATEGY_NAME = 'jwks';
/** Most `passportAliases`: one or two names cover every migration; a long list is a mistake. */
export const MAX_PASSPORT_ALIASES = 8;

/** Metadata key set by `@Public()`. */
export const IS_PUBLIC_KEY = 'jwks-auth:isPublic';
/**
 * Metadata key of the `@Public()` in the NestJS authentication docs (`SetMetadata('isPublic', true)`),
 * also honoured: an app that already marks its open routes that way needs no second decorator.
 */
export const DOCS_IS_PUBLIC_KEY = 'isPublic';

/**
 * Window of the refusal log: one debug line per error code, and one spike check, per 10 s. A
 * token flood must not become a log flood, and 10 s is short enough to see when it started.
 */
export const REFUSAL_LOG_WINDOW_MS = 10_000;
/**
 * Refusals per window above which one `log`-level summary is written: 10 a second is far above
 * the trickle of expired tokens a healthy API sees, so a 401 storm shows without debug logging.
 */
export const REFUSAL_SPIKE_THRESHOLD = 100;
/**
 * `Retry-After` (seconds) of a 503 when the refusal does not say when the next fetch is due:
 * while no set is held, fetches are retried at most `unavailableRetryMaxMs` apart.
 */
export const UNAVAILABLE_RETRY_AFTER_SEC = Math.ceil(JWKS_DEFAULTS.unavailableRetryMaxMs / 1000);

/**
 * Flood interval of the default log listener: a repeated line (unknown kid, refused refetch,
 * failed fetch, unusable pushed set) is written at most once per kind and issuer per 10 s, then
 * one "… N more" summary, so an attacker's flood cannot fill the disk or bury other lines, while
 * a real problem still shows within seconds. Same window as the refusal log.
 */
export const LOG_FLOOD_INTERVAL_MS = 10_000;
/**
 * Windows the log flood limit keeps before sweeping the ended ones: far above the ~20 kinds per
 * issuer times the issuers an app has at once, so a sweep only follows long issuer churn.
 */
export const LOG_FLOOD_MAX_KINDS = 1_000;

/** Metadata key of `@Scopes()`, `@Permissions()` and `@Roles()`: the route's `GrantRequirement[]`. */
export const GRANTS_KEY = 'jwks-auth:grants';
/**
 * Where grants are read when an issuer sets no `grantClaims` (each preset sets its own IdP's):
 * scopes from `scope` (RFC 9068, space-separated) and `scp` (Entra, Okta); permissions from
 * `permissions` (Auth0 RBAC); roles from `roles` (Entra app roles), `realm_access.roles` (Keycloak
 * realm roles) and `cognito:groups` (Cognito). Keycloak client roles need the client's name, so
 * only `keycloakIssuer({ clientId })` reads them.
 */
export const JWKS_DEFAULT_GRANT_CLAIMS: ResolvedGrantClaims = Object.freeze({
  scopes: Object.freeze([Object.freeze(['scope']), Object.freeze(['scp'])]),
  permissions: Object.freeze([Object.freeze(['permissions'])]),
  roles: Object.freeze([Object.freeze(['roles']), Object.freeze(['realm_access', 'roles']), Object.freeze(['cognito:groups'])]),
});

/** Injection token of the validated, defaulted options (`ResolvedJwksOptions`). */
export const JWKS_RESOLVED_OPTIONS = Symbol('JWKS_RESOLVED_OPTIONS');
/** Injection token of the `Clock` the cache runs on; override it with a `FakeClock` in tests. */
export const JWKS_CLOCK = Symbol('JWKS_CLOCK');
/** Injection token of the `JwksFetcher` that retrieves the raw key set. */
export const JWKS_FETCHER = Symbol('JWKS_FETCHER');
/**
 * Injection token of the `DiscoveryFetcher` that reads an issuer's OIDC discovery document (for
 * issuers configured without `jwksUri`).
 */
export const JWKS_DISCOVERY_FETCHER = Symbol('JWKS_DISCOVERY_FETCHER');
/**
 * Injection token of the `KeySetStore` the key set persists to and takes pushed changes from.
 * Defaults to the snapshot file when `cache.snapshotPath` is set, else memory; provide your own
 * (or a fleet's) under this token.
 */
export const JWKS_STORE = Symbol('JWKS_STORE');
/**
 * Injection token of the `JwksAuthEventListener[]` that receive the key set's events. Defaults to
 * `[loggingListener(...)]` (the log lines); provide your own list to add metrics (keep the logging
 * one to keep the logs).
 */
export const JWKS_EVENT_LISTENERS = Symbol('JWKS_EVENT_LISTENERS');

/**
 * Close codes of a `ws` connection refused at the handshake (`JwksWsHandshake`). RFC 6455 §7.4.2
 * leaves 4000-4999 to applications: 4401 reads as the HTTP status it stands for (the handshake
 * checks no grants, so it never refuses with a 403). A key
 * set that cannot be had is the server's state, not the client's fault: 1013 is the registered
 * "Try Again Later" code, which clients that reconnect on their own already understand.
 */
export const JWKS_WS_CLOSE_CODES = Object.freeze({ unauthorized: 4401, unavailable: 1013 } as const);

/** The admin controller (`admin` option). */
export const ADMIN_DEFAULTS = {
  /** Where the admin routes live unless `admin.path` says otherwise: beside the webhook's `/jwks-auth/webhook`. */
  path: 'jwks-auth/admin',
} as const;

/** The rotation webhook (`webhook` option): fixed limits, each with its reason. */
export const WEBHOOK_DEFAULTS = {
  /** Where the webhook listens unless `webhook.path` says otherwise. */
  path: '/jwks-auth/webhook',
  /**
   * Largest request body: a signed notice is under 200 bytes, and an Auth0 Log Streams batch of
   * management log entries (a few KB each) fits many times over; anything bigger is refused with
   * 413 before it is buffered or parsed, so an unauthenticated sender cannot make us hold more.
   */
  maxBodyBytes: 64 * 1024,
  /** How far a notice's `t=` may be from our clock, either way (replay window; Stripe's default too). */
  toleranceSec: 300,
  /**
   * Signatures remembered to refuse a replay inside the window: far above any real notice rate
   * (a few per rotation); past it the oldest are dropped first, so memory stays bounded under a flood.
   */
  maxSeenSignatures: 10_000,
  /** Largest `x-jwks-signature` header: `t=` plus a few `v1=` values of 64 hex characters. */
  maxSignatureHeaderChars: 512,
  /** Largest `kid` or `issuer` in a notice: far above any real one (kids are ≤ 100 characters in practice). */
  maxFieldChars: 2048,
  /** Most log entries acted on per Auth0 batch: the rest of a larger batch is ignored (they are not key events). */
  maxAuth0Entries: 1000,
  /**
   * Refusals (401, 413) one sender may collect per `refusalWindowMs` before its requests are
   * answered 429 until the window ends (unread when they carry no credential; a signed or Auth0
   * request that authenticates is still acted on, since behind a proxy a guesser shares the real
   * sender's address): this only ever slows a guesser or a flood.
   */
  maxRefusalsPerSender: 20,
  /** The window of `maxRefusalsPerSender`: a sender over it waits at most this long. */
  refusalWindowMs: 60_000,
  /** Senders tracked at once: past it the oldest are forgotten first, so a spread-out flood cannot grow memory. */
  maxTrackedSenders: 4096,
} as const;

/** Defaults of the `metrics` option (Prometheus through prom-client, or OpenTelemetry). */
export const METRICS_DEFAULTS = Object.freeze({
  /**
   * Buckets of `jwks_auth_key_set_fetch_duration_seconds`: a healthy IdP answers in 10–300 ms; the
   * top buckets reach past the default fetch timeout (5 s), so a timing-out IdP shows in `+Inf`.
   */
  fetchDurationBuckets: Object.freeze([0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]),
  /** The OpenTelemetry meter's name (its instrumentation scope): the package name, by OTel convention. */
  otelMeterName: 'nestjs-jwks-auth',
});

/**
 * Injection token of the module's metrics (`JwksMetrics`), or null when the `metrics` option is
 * off. Built at startup: prom-client / `@opentelemetry/api` are loaded then.
 */
export const JWKS_METRICS = Symbol('JWKS_METRICS');

/**
 * Defaults of `ClientCredentialsModule` (outbound machine-to-machine tokens, OAuth 2.0 client
 * credentials grant). Token endpoints are among an IdP's most tightly limited (Auth0 adds hourly
 * and daily per-client quotas), and a token lives for minutes to a day: every value below leans
 * towards asking less often.
 */
export const CLIENT_CREDENTIALS_DEFAULTS = {
  /**
   * A token is handed out only while more than this is left of its life; within it, callers wait
   * for a new one (or get the old one while the endpoint fails or throttles). 5 minutes covers a
   * slow downstream call and clock skew between us and the API. Applied as
   * `min(refreshMarginMs, lifetime × maxMarginRatio)`, so a 60-s token is still usable for 30 s.
   */
  refreshMarginMs: 5 * 60_000,
  /** The margin is at most this share of a token's lifetime (see `refreshMarginMs`). */
  maxMarginRatio: 0.5,
  /**
   * The background refresh starts at this share of a token's usable life (lifetime minus margin):
   * a 24-h token is renewed after about 19 h, leaving hours to ride out an endpoint outage or a
   * quota reset before any caller has to wait; a 60-s token after 24 s.
   */
  refreshAheadRatio: 0.8,
  /**
   * A token is never served with less than this left (even while the endpoint is down): the call
   * it authorises must reach the API before it expires.
   */
  minRemainingMs: 5_000,
  /** First wait after a failed request (429 without headers, 5xx, network); doubled per failure, full jitter. */
  backoffBaseMs: 1_000,
  /** Longest computed backoff: a failing endpoint costs at most about one request a minute per key and fleet. */
  backoffMaxMs: 60_000,
  /**
   * Wait after `invalid_client`/`unauthorized_client` (or any other 4xx): retrying a wrong secret
   * cannot succeed, yet a rotated secret should be picked up soon; 30 s keeps a misconfigured
   * service at two requests a minute instead of one per call.
   */
  clientErrorBackoffMs: 30_000,
  /**
   * Longest wait accepted from `Retry-After`, `x-ratelimit-reset` or `auth0-client-quota-limit`:
   * a full hour covers Auth0's hourly quota reset, while a hostile or broken header (a year, a
   * date in 2099) cannot stop token requests for longer than that. An exhausted daily quota then
   * costs one refused request an hour.
   */
  maxRetryAfterMs: 60 * 60_000,
  /** Whole-request timeout (connect, headers, body), as for the JWKS. */
  timeoutMs: 5_000,
  /** Largest token response read: a response is a token (a few KiB) and a few members. */
  maxResponseBytes: 64 * 1024,
  /** Longest access token accepted: Entra's largest tokens are about 8 KiB; beyond this it is garbage. */
  maxAccessTokenChars: 32 * 1024,
  /** Longest `token_type` and `scope` accepted from the response. */
  maxTokenTypeChars: 64,
  maxScopeChars: 4 * 1024,
  /**
   * Longest lifetime trusted from `expires_in`: a 10-year token is a broken endpoint; refreshing a
   * real 30-day token weekly costs nothing.
   */
  maxLifetimeMs: 7 * 24 * 60 * 60_000,
  /**
   * Shortest `expires_in` accepted: a token that lives less is spent (past `minRemainingMs`) about
   * as soon as it arrives, and since a success sets no wait, every call would be a request; refused
   * as an invalid response, so the backoff paces the endpoint. No IdP issues 10-s tokens on purpose.
   */
  minLifetimeMs: 10_000,
  /** Lifetime assumed when a response has no `expires_in` (RFC 6749 §5.1 only recommends it): short, so we ask again soon. */
  defaultLifetimeMs: 5 * 60_000,
  /** Most characters of an OAuth `error`/`error_description` kept for messages (printable ASCII only). */
  maxErrorDescriptionChars: 200,
  /**
   * Most (audience, scope) pairs cached per service: each is a configured downstream API, so a few
   * suffice; beyond it the least recently added goes, so a bug that varies the scope per call
   * cannot grow memory (it is throttled by the endpoint soon anyway).
   */
  maxCacheEntries: 100,
  /**
   * Most distinct audiences a metrics label takes (the rest are `other`): Prometheus keeps every
   * series forever, so audiences chosen per call (one per tenant) must not each become one.
   */
  maxMetricAudiences: 100,
  /**
   * Most entries `MemoryClientTokenStore` keeps (each until its token expires): room for several
   * services' pairs sharing one store; beyond it the oldest written goes, so memory stays bounded.
   */
  maxStoreEntries: 1_000,
  /** Lifetime of a `private_key_jwt` assertion (RFC 7523 §3: short): a minute covers clock skew. */
  assertionLifetimeSec: 60,
  /**
   * A downstream 401 drops the cached token at most once per this long per (audience, scope): an
   * API that refuses every token must not turn each call into a token request (a revoked token
   * is replaced at the first 401; an API that refuses all gets two token requests a minute).
   */
  minInvalidateIntervalMs: 30_000,
  /** Longest `audience` and `scope` a caller may ask for: configuration, not data. */
  maxAudienceChars: 2048,
  maxRequestedScopeChars: 4096,
  /**
   * Fleet (a shared store with a lease): the lease lapses this long after it was taken if its
   * holder dies; longer than the holder's discovery and token request (each within `timeoutMs`).
   */
  leaseMarginMs: 1_000,
  /** Fleet: while another process holds the lease, look at the store again this often (a push ends the wait sooner). */
  waitPollMs: 100,
} as const;

/** The client-credentials lease: discovery and the token request, each within `timeoutMs`, plus a margin. */
export function clientTokenLeaseTtlMs(timeoutMs: number): number {
  return 2 * timeoutMs + CLIENT_CREDENTIALS_DEFAULTS.leaseMarginMs;
}
