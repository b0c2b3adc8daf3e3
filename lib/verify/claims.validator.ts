import {
  AudienceMismatchError,
  ClaimInvalidError,
  IssuerMismatchError,
  TokenTooOldError,
  TokenExpiredError,
  TokenNotYetValidError,
} from '../errors/jwks.errors.js';

/** The verified claims handed to route handlers as `request.user`. */
export interface JwtClaims {
  iss: string;
  aud: string | string[];
  exp: number;
  sub?: string;
  iat?: number;
  nbf?: number;
  [claim: string]: unknown;
}

export interface ClaimsPolicy {
  issuer: string;
  audience: readonly string[];
  /** The claim holding the audience: `aud`, or Cognito access tokens' `client_id`. */
  audienceClaim: 'aud' | 'client_id';
  /** Claims that must equal these strings (Cognito's `token_use`), as pairs for a plain loop. */
  requiredClaimValues: ReadonlyArray<readonly [claim: string, value: string]>;
  clockToleranceSec: number;
  /** Refuse tokens whose `iat` is older than this; null for no limit. */
  maxTokenAgeSec: number | null;
  /** Claims that must be present. */
  requiredClaims: readonly string[];
}

function numericDate(payload: Record<string, unknown>, name: string, required: boolean): number | undefined {
  const value = payload[name];
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ClaimInvalidError(`"${name}" claim must be a finite number`);
  }
  return value;
}

/**
 * Registered claims: `exp` required; `nbf` honoured; `iat` type-checked; `iss` exact; `aud` must contain a
 * configured audience. Times in seconds, with the configured tolerance.
 * @throws JwtVerificationError subclasses
 */
export function validateClaims(payload: Record<string, unknown>, policy: ClaimsPolicy, nowMs: number): JwtClaims {
  const now = nowMs / 1000;
  const tol = policy.clockToleranceSec;
  const exp = numericDate(payload, 'exp', true) as number;
  if (now - tol >= exp) throw new TokenExpiredError('token expired');
  const nbf = numericDate(payload, 'nbf', false);
  if (nbf !== undefined && now + tol < nbf) throw new TokenNotYetValidError('token not valid yet (nbf)');
  // `iat` must be a number when present, but a slightly future `iat` is IdP clock skew, not an
  // attack: like jose and jsonwebtoken we do not refuse it unless a maximum age is configured.
  const iat = numericDate(payload, 'iat', policy.maxTokenAgeSec !== null);
  if (policy.maxTokenAgeSec !== null && iat !== undefined) {
    const age = now - iat;
    if (age - tol > policy.maxTokenAgeSec) throw new TokenTooOldError('token older than maxTokenAgeSec');
    if (age + tol < 0) throw new TokenNotYetValidError('token issued in the future (iat)');
  }

  // Mismatch messages name the configured values (what the operator can check), never the token's.
  if (payload.iss !== policy.issuer) throw new IssuerMismatchError(`token issuer is not the configured ${JSON.stringify(policy.issuer)}`);
  const aud = payload[policy.audienceClaim];
  // `client_id` names one client: only `aud` may be an array (RFC 7519 §4.1.3).
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) && policy.audienceClaim === 'aud' ? aud : [];
  if (!audiences.some((a) => typeof a === 'string' && policy.audience.includes(a))) {
    const what = policy.audienceClaim === 'aud' ? 'token audience contains' : 'token client_id is';
    throw new AudienceMismatchError(`${what} none of the configured ${policy.audience.map((a) => JSON.stringify(a)).join(', ')}`);
  }
  for (const [claim, value] of policy.requiredClaimValues) {
    if (!Object.prototype.hasOwnProperty.call(payload, claim) || payload[claim] !== value) {
      throw new ClaimInvalidError(`claim ${JSON.stringify(claim)} must be ${JSON.stringify(value)}`);
    }
  }
  for (const claim of policy.requiredClaims) {
    // Own members only: `constructor` or `toString` must not be satisfied by Object.prototype.
    if (!Object.prototype.hasOwnProperty.call(payload, claim) || payload[claim] === undefined || payload[claim] === null) {
      throw new ClaimInvalidError(`required claim ${JSON.stringify(claim)} is missing`);
    }
  }
  return payload as JwtClaims;
}
