import { constants, type KeyObject, type VerifyKeyObjectInput } from 'node:crypto';

/** What a JWS `alg` needs from a key, and how Node's `crypto.verify` is called for it. */
export interface AlgorithmSpec {
  /** Hash passed to `crypto.verify`; null for EdDSA, whose hash is part of the scheme. */
  hash: string | null;
  kty: 'RSA' | 'EC' | 'OKP';
  /** Allowed curves for EC/OKP keys. */
  curves?: readonly string[];
  /** Exact signature length in bytes where the scheme fixes it (ECDSA P1363 form). */
  signatureLength?: number;
  /** Extra `crypto.verify` parameters besides the key. */
  params: Omit<VerifyKeyObjectInput, 'key'>;
}

const pss = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST };

export const ALGORITHM_SPECS: Readonly<Record<string, AlgorithmSpec>> = Object.freeze({
  RS256: { hash: 'sha256', kty: 'RSA', params: {} },
  RS384: { hash: 'sha384', kty: 'RSA', params: {} },
  RS512: { hash: 'sha512', kty: 'RSA', params: {} },
  PS256: { hash: 'sha256', kty: 'RSA', params: pss },
  PS384: { hash: 'sha384', kty: 'RSA', params: pss },
  PS512: { hash: 'sha512', kty: 'RSA', params: pss },
  // JWS carries ECDSA signatures as raw r||s (IEEE P1363), not DER.
  ES256: { hash: 'sha256', kty: 'EC', curves: ['P-256'], signatureLength: 64, params: { dsaEncoding: 'ieee-p1363' } },
  ES384: { hash: 'sha384', kty: 'EC', curves: ['P-384'], signatureLength: 96, params: { dsaEncoding: 'ieee-p1363' } },
  ES512: { hash: 'sha512', kty: 'EC', curves: ['P-521'], signatureLength: 132, params: { dsaEncoding: 'ieee-p1363' } },
  EdDSA: { hash: null, kty: 'OKP', curves: ['Ed25519', 'Ed448'], params: {} },
});

/** `crypto.verify` input for one key and algorithm, built once when the key set is loaded. */
export function verifyInput(spec: AlgorithmSpec, key: KeyObject): VerifyKeyObjectInput {
  return { key, ...spec.params };
}
