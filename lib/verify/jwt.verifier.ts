import type { ResolvedJwksOptions } from '../interfaces/jwks-auth-options.interface';
import { JwksAuthError, TokenTypeError } from '../errors/jwks.errors';
import type { Clock } from '../cache/clock';
import { validateClaims, type ClaimsPolicy, type JwtClaims } from './claims.validator';
import type { VerificationKey } from './jwk-set.parser';
import { verifySignature } from './signature.verifier';
import { decodeClaims, parseJws } from './token.parser';

/** Where the verifier gets candidate keys: the cache service, which may refetch on a miss. */
export interface KeyResolver {
  resolveKeys(kid: string | undefined, alg: string): Promise<readonly VerificationKey[]>;
}

/** `typ` compares case-insensitively and without an `application/` prefix (RFC 7515 §4.1.9). */
function normalizeTyp(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.startsWith('application/') ? lower.slice('application/'.length) : lower;
}

/**
 * Verifies a compact JWS access token: cheap checks, claims, key lookup, signature. Plain class,
 * no Nest: the guard and the Passport strategy both call it.
 *
 * Claims are checked before the key lookup (RFC 8725 allows any order, the outcome is the same
 * refusal): an expired, foreign or malformed token never costs a fetch or a signature check.
 */
export class JwtVerifier {
  private readonly allowed: ReadonlySet<string>;
  private readonly claimsPolicy: ClaimsPolicy;
  private readonly typ: string | null;
  private readonly refusals = new Map<string, number>();

  constructor(
    private readonly options: ResolvedJwksOptions,
    private readonly keys: KeyResolver,
    private readonly clock: Pick<Clock, 'now'>,
  ) {
    this.allowed = new Set(options.algorithms);
    this.typ = options.typ === null ? null : normalizeTyp(options.typ);
    this.claimsPolicy = {
      issuer: options.issuer,
      audience: options.audience,
      clockToleranceSec: options.clockToleranceSec,
      maxTokenAgeSec: options.maxTokenAgeSec,
      requiredClaims: options.requiredClaims,
    };
  }

  /**
   * @returns the verified claims
   * @throws JwtVerificationError subclasses, each with a stable `code`
   */
  async verify(token: string): Promise<JwtClaims> {
    return (await this.verifyWithKey(token)).claims;
  }

  /** As `verify`, also returning the key that verified the signature. */
  async verifyWithKey(token: string): Promise<{ claims: JwtClaims; key: VerificationKey }> {
    try {
      const jws = parseJws(token, this.options.maxTokenBytes, this.allowed);
      if (this.typ !== null && (typeof jws.header.typ !== 'string' || normalizeTyp(jws.header.typ) !== this.typ)) {
        throw new TokenTypeError('token typ is not the required type');
      }
      const claims = validateClaims(decodeClaims(jws), this.claimsPolicy, this.clock.now());
      const key = verifySignature(jws, await this.keys.resolveKeys(jws.kid, jws.alg));
      return { claims, key };
    } catch (err) {
      const code = err instanceof JwksAuthError ? err.code : 'ERR_UNEXPECTED';
      this.refusals.set(code, (this.refusals.get(code) ?? 0) + 1);
      throw err;
    }
  }

  /** How many tokens were refused, by error code, since startup (for logs and metrics). */
  refusalCounts(): Record<string, number> {
    return Object.fromEntries(this.refusals);
  }
}
