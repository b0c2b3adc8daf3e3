import { verify as cryptoVerify } from 'node:crypto';
import { KeyMismatchError, SignatureInvalidError, TokenMalformedError } from '../errors/jwks.errors';
import type { ResolvedJwksOptions } from '../interfaces/jwks-auth-options.interface';
import type { Clock } from '../cache/clock';
import { ALGORITHM_SPECS } from './algorithms';
import { validateClaims, type ClaimsPolicy, type JwtClaims } from './claims.validator';
import type { VerificationKey } from './jwk-set.parser';
import { parseToken } from './token.parser';

/** Where the verifier gets candidate keys: the cache service, which may refetch on a miss. */
export interface KeyResolver {
  resolveKeys(kid: string | undefined, alg: string): Promise<readonly VerificationKey[]>;
}

/**
 * Verifies a compact JWS access token: cheap checks, claims, key lookup, signature. Plain class,
 * no Nest: the guard and the Passport strategy both call it.
 */
export class JwtVerifier {
  private readonly allowed: ReadonlySet<string>;
  private readonly claimsPolicy: ClaimsPolicy;

  constructor(
    private readonly options: ResolvedJwksOptions,
    private readonly keys: KeyResolver,
    private readonly clock: Pick<Clock, 'now'>,
  ) {
    this.allowed = new Set(options.algorithms);
    this.claimsPolicy = {
      issuer: options.issuer,
      audience: options.audience,
      clockToleranceSec: options.clockToleranceSec,
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
    const parsed = parseToken(token, this.options.maxTokenBytes, this.allowed);
    // Claims before the key lookup: an expired or foreign token never costs a fetch or a signature check.
    const claims = validateClaims(parsed.payload, this.claimsPolicy, this.clock.now());
    const candidates = await this.keys.resolveKeys(parsed.kid, parsed.alg);
    const spec = ALGORITHM_SPECS[parsed.alg];
    if (spec.signatureLength !== undefined && parsed.signature.length !== spec.signatureLength) {
      throw new TokenMalformedError('signature has the wrong length for its algorithm');
    }
    const data = Buffer.from(parsed.signingInput, 'latin1');
    let fitting = false;
    for (const key of candidates) {
      const input = key.verifiers.get(parsed.alg);
      if (!input) continue;
      fitting = true;
      if (cryptoVerify(spec.hash, data, input, parsed.signature)) return { claims, key };
    }
    if (!fitting) throw new KeyMismatchError('no key with this kid fits the token alg');
    throw new SignatureInvalidError('signature does not verify');
  }
}
