import { verify as cryptoVerify } from 'node:crypto';
import { KeyMismatchError, SignatureInvalidError, TokenMalformedError } from '../errors/jwks.errors.js';
import { ALGORITHM_SPECS } from './algorithms.js';
import type { VerificationKey } from './jwk-set.parser.js';
import type { ParsedJws } from './token.parser.js';

/**
 * Checks the signature of a parsed JWS against the candidate keys for its kid. Only a key whose
 * type, curve and `alg` fit the token's `alg` is tried; with duplicate kids each fitting key is
 * tried, and only one that verifies lets the token through.
 * @returns the key that verified
 * @throws KeyMismatchError | SignatureInvalidError | TokenMalformedError
 */
export function verifySignature(jws: ParsedJws, candidates: readonly VerificationKey[]): VerificationKey {
  const spec = ALGORITHM_SPECS[jws.alg];
  if (spec.signatureLength !== undefined && jws.signature.length !== spec.signatureLength) {
    throw new TokenMalformedError('signature has the wrong length for its algorithm');
  }
  const data = Buffer.from(jws.signingInput, 'latin1');
  let fitting = false;
  for (const key of candidates) {
    const input = key.verifiers.get(jws.alg);
    if (!input) continue;
    fitting = true;
    if (cryptoVerify(spec.hash, data, input, jws.signature)) return key;
  }
  if (!fitting) throw new KeyMismatchError('no key with this kid fits the token alg');
  throw new SignatureInvalidError('signature does not verify');
}
