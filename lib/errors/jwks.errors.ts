/**
 * Named errors with stable codes callers can branch on (as panva/jose does).
 * Messages never carry a raw token, and a `kid` only in sanitized form.
 */
export abstract class JwksAuthError extends Error {
  abstract readonly code: string;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The module was configured wrongly; thrown at startup, listing every mistake. */
export class JwksOptionsError extends JwksAuthError {
  readonly code = 'ERR_JWKS_OPTIONS';
  constructor(
    readonly problems: string[],
    /** Whose options: the module named in the message. */
    moduleName = 'JwksAuthModule',
  ) {
    super(`Invalid ${moduleName} options:\n  - ${problems.join('\n  - ')}`);
  }
}

/** An optional peer dependency is needed for the feature used but is not installed. */
export class JwksMissingDependencyError extends JwksAuthError {
  readonly code = 'ERR_JWKS_MISSING_DEPENDENCY';
  constructor(pkg: string, feature: string) {
    super(`${feature} needs the optional package "${pkg}": npm install ${pkg}`);
  }
}

/** Kinds of failed retrieval, reported in state and health. */
export type JwksFetchErrorKind =
  | 'status' | 'timeout' | 'network' | 'redirect' | 'too-large' | 'content-type' | 'parse' | 'no-usable-keys'
  /** The OIDC discovery document is unusable: issuer mismatch, no or a refused `jwks_uri`. */
  | 'discovery';

/** Retrieving or reading the JWKS failed. `retryAfterMs` carries the IdP's own wait, if any. */
export class JwksFetchError extends JwksAuthError {
  readonly code = 'ERR_JWKS_FETCH';
  constructor(
    message: string,
    readonly kind: JwksFetchErrorKind,
    readonly status?: number,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/**
 * `refresh()` was asked while the IdP's `Retry-After` / `x-ratelimit-reset` or our backoff says to
 * wait. Nothing was fetched; `refresh({ force: true })` overrides it. `retryAfterMs` is the wait left.
 */
export class JwksRefreshDeferredError extends JwksAuthError {
  readonly code = 'ERR_JWKS_REFRESH_DEFERRED';
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message);
  }
}

/** A method of the public API was called with an argument it cannot use (e.g. `revokeKey(42)`). */
export class JwksArgumentError extends JwksAuthError {
  readonly code = 'ERR_JWKS_ARGUMENT';
}

/** Base of every reason a token is refused; the client always sees the same generic 401. */
export abstract class JwtVerificationError extends JwksAuthError {}

export class TokenMissingError extends JwtVerificationError {
  readonly code = 'ERR_JWT_MISSING';
}
export class TokenMalformedError extends JwtVerificationError {
  readonly code = 'ERR_JWT_MALFORMED';
}
export class AlgorithmNotAllowedError extends JwtVerificationError {
  readonly code = 'ERR_JWT_ALG_NOT_ALLOWED';
}
/**
 * No key in a just-fetched set has the token's `kid`: the IdP does not publish it. A rise of this
 * code is made-up kids (an attack) or tokens from another tenant, not an outage.
 */
export class KeyNotFoundError extends JwtVerificationError {
  readonly code = 'ERR_JWKS_NO_MATCHING_KEY';
}
/**
 * Unknown `kid` inside the refetch cooldown, or while too many requests already wait for a fetch:
 * refused at once, without a fetch. Seen after a rotation for at most the cooldown.
 */
export class KeyCoolingDownError extends JwtVerificationError {
  readonly code = 'ERR_JWKS_COOLDOWN';
}
/**
 * Unknown `kid` while the JWKS endpoint is backing off after failures (or asked us to wait with
 * `Retry-After`): refused without a fetch. A rise of this code is an IdP outage, not an attack.
 */
export class KeyFetchBackoffError extends JwtVerificationError {
  readonly code = 'ERR_JWKS_BACKOFF';
}
/** The fetch this request waited for did not finish within `cache.maxWaitMs`: a slow or hanging IdP. */
export class KeyWaitTimeoutError extends JwtVerificationError {
  readonly code = 'ERR_JWKS_WAIT_TIMEOUT';
}
/** The token's `kid` was revoked by `JwksCacheService.revokeKey()`: refused whatever the IdP publishes. */
export class KeyRevokedError extends JwtVerificationError {
  readonly code = 'ERR_JWKS_KEY_REVOKED';
}
/**
 * No usable key set: never fetched successfully, or the last good set is past `maxStaleMs`. The
 * token is not at fault: the guard answers 503 with `Retry-After` (or 401 with
 * `unavailableStatus: 401`). `retryAfterMs` is how long until the next fetch attempt.
 */
export class KeySetUnavailableError extends JwtVerificationError {
  readonly code = 'ERR_JWKS_UNAVAILABLE';
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}
/** The key exists but its type, curve, `alg` or `use` does not fit the token's `alg`. */
export class KeyMismatchError extends JwtVerificationError {
  readonly code = 'ERR_JWKS_KEY_MISMATCH';
}
export class SignatureInvalidError extends JwtVerificationError {
  readonly code = 'ERR_JWS_SIGNATURE_INVALID';
}
export class TokenExpiredError extends JwtVerificationError {
  readonly code = 'ERR_JWT_EXPIRED';
}
export class TokenNotYetValidError extends JwtVerificationError {
  readonly code = 'ERR_JWT_NOT_YET_VALID';
}
export class IssuerMismatchError extends JwtVerificationError {
  readonly code = 'ERR_JWT_ISSUER';
}
export class AudienceMismatchError extends JwtVerificationError {
  readonly code = 'ERR_JWT_AUDIENCE';
}
export class ClaimInvalidError extends JwtVerificationError {
  readonly code = 'ERR_JWT_CLAIM_INVALID';
}
/** The header `typ` is not the one required by the `typ` option (e.g. `at+jwt`, RFC 9068). */
export class TokenTypeError extends JwtVerificationError {
  readonly code = 'ERR_JWT_TYP';
}
/** The token is older than `maxTokenAgeSec` (by `iat`). */
export class TokenTooOldError extends JwtVerificationError {
  readonly code = 'ERR_JWT_TOO_OLD';
}

/**
 * A verified token lacks a scope, permission or role the route requires (`@Scopes()`,
 * `@Permissions()`, `@Roles()`). Not a verification failure: the token is genuine, so over HTTP
 * the guard answers 403 with `Bearer error="insufficient_scope"` (RFC 6750 §3.1), this error as
 * the exception's `cause`, for a transport to map to its own shape. The code names RFC 6750's
 * error, which covers all three kinds.
 */
export class InsufficientGrantError extends JwksAuthError {
  readonly code = 'ERR_JWT_INSUFFICIENT_SCOPE';
  constructor(
    /** Which kind of grant was missing. */
    readonly kind: 'scopes' | 'permissions' | 'roles',
    /** `all`: each of `required` was needed; `any`: one of them. */
    readonly mode: 'all' | 'any',
    readonly required: readonly string[],
  ) {
    super(`token lacks the required ${kind}: ${mode} of ${required.join(', ')}`);
  }
}

/** Why a shared key-set store call failed (`JwksStoreError.reason`). */
export type JwksStoreErrorReason =
  /** No answer within the store's command timeout. */
  | 'timeout'
  /** The store refused or lost the connection. */
  | 'unavailable'
  /** The store was closed. */
  | 'closed'
  /** The state is larger than the store keeps. */
  | 'too-large'
  /** Other processes kept writing the shared state between this one's read and write (`update`). */
  | 'conflict';

/**
 * A shared key-set store (Redis) could not do what was asked. Never fails authentication: the
 * source logs it and carries on from its own memory; for `lease()` it means "no fleet
 * coordination now: fetch yourself".
 */
export class JwksStoreError extends JwksAuthError {
  readonly code = 'ERR_JWKS_STORE';
  constructor(
    readonly reason: JwksStoreErrorReason,
    message: string,
  ) {
    super(message);
  }
}

/** Why a request to the OAuth token endpoint failed (`TokenEndpointError.kind`). */
export type TokenEndpointErrorKind =
  /** Connection refused or reset, DNS, TLS; also a request cancelled at shutdown. */
  | 'network'
  | 'timeout'
  /** A status that is neither 200 nor an OAuth error answer (429, 5xx, 404, a redirect). */
  | 'status'
  /** A 200 whose body is not a usable token response (not JSON, no or a bad `access_token`, a bad `expires_in`). */
  | 'invalid-response'
  /** The endpoint refused our credentials (`invalid_client`, `unauthorized_client`): a configuration problem. */
  | 'invalid-client'
  /** Another OAuth error answer (`invalid_scope`, `invalid_request`, `access_denied`, `invalid_grant`...). */
  | 'oauth-error'
  /** The token endpoint could not be found from the issuer's discovery document. */
  | 'discovery';

/**
 * The token endpoint did not give a token. `oauthError` is the endpoint's `error` code (sanitised),
 * when it sent one. Messages never carry the response body, the client secret or a token.
 */
export class TokenEndpointError extends JwksAuthError {
  readonly code = 'ERR_TOKEN_ENDPOINT';
  /**
   * Epoch ms before which the endpoint is not asked again, when this failure set such a wait (a
   * 429's `Retry-After`, or our backoff): callers after this one get `TokenEndpointThrottledError`
   * with the same `retryAt` until then.
   */
  retryAt?: number;
  constructor(
    message: string,
    readonly kind: TokenEndpointErrorKind,
    readonly status?: number,
    readonly oauthError?: string,
  ) {
    super(message);
  }
}

/**
 * No usable token is cached and the token endpoint may not be asked before `retryAt` (it
 * throttled us, or failed and we back off): refused at once, without a request, so a throttled
 * service never turns its traffic into a request storm. `source` says who set the wait.
 */
export class TokenEndpointThrottledError extends JwksAuthError {
  readonly code = 'ERR_TOKEN_ENDPOINT_THROTTLED';
  constructor(
    message: string,
    /** Epoch ms from which a request is allowed again. */
    readonly retryAt: number,
    readonly source: string,
  ) {
    super(message);
  }
}
