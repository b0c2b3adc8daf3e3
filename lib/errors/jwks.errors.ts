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
  constructor(readonly problems: string[]) {
    super(`Invalid JwksAuthModule options:\n  - ${problems.join('\n  - ')}`);
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
  | 'status' | 'timeout' | 'network' | 'redirect' | 'too-large' | 'content-type' | 'parse' | 'no-usable-keys';

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
/** No key in the (possibly just refetched) set has the token's `kid`. */
export class KeyNotFoundError extends JwtVerificationError {
  readonly code = 'ERR_JWKS_NO_MATCHING_KEY';
}
/** Unknown `kid` inside the refetch cooldown: refused at once, without a fetch. */
export class KeyCoolingDownError extends JwtVerificationError {
  readonly code = 'ERR_JWKS_COOLDOWN';
}
/** No usable key set: never fetched successfully, or the last good set is past `maxStaleMs`. */
export class KeySetUnavailableError extends JwtVerificationError {
  readonly code = 'ERR_JWKS_UNAVAILABLE';
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
