import { createPublicKey, type JsonWebKey, type KeyObject, type VerifyKeyObjectInput } from 'node:crypto';
import { JwksFetchError } from '../errors/jwks.errors.js';
import { JWKS_LIMITS } from '../jwks-auth.constants.js';
import { ALGORITHM_SPECS, verifyInput } from './algorithms.js';
import { eddsaKeyProblem } from './eddsa-key.checks.js';
import { SAFE_KID } from './kid.js';
import { rsaKeyProblem } from './rsa-key.checks.js';

/** One usable public key from the set, parsed once, never per request. */
export interface VerificationKey {
  readonly kid: string | undefined;
  readonly kty: 'RSA' | 'EC' | 'OKP';
  readonly keyObject: KeyObject;
  /** `crypto.verify` inputs for each configured algorithm this key may verify. */
  readonly verifiers: ReadonlyMap<string, VerifyKeyObjectInput>;
}

/** Why a JWK was left out of the set (counted; logged without the kid). */
export type RejectedKeyReason =
  | 'not-an-object' | 'unsupported-kty' | 'private-key' | 'not-for-signing' | 'bad-kid'
  | 'unsupported-alg' | 'invalid-key-material' | 'weak-rsa-key' | 'oversized-rsa-key' | 'weak-eddsa-key'
  | 'unsupported-curve' | 'no-allowed-algorithm' | 'duplicate-kid';

/** The parsed key set: lookups by kid in O(1). */
export class KeyIndex {
  static readonly EMPTY = new KeyIndex([], []);
  private readonly byKid = new Map<string, VerificationKey[]>();
  private readonly members: ReadonlySet<VerificationKey>;

  constructor(
    readonly keys: readonly VerificationKey[],
    readonly rejected: readonly RejectedKeyReason[],
  ) {
    this.members = new Set(keys);
    for (const key of keys) {
      if (key.kid === undefined) continue;
      const list = this.byKid.get(key.kid);
      // Duplicate kids (at most JWKS_LIMITS.maxKeysPerKid, see parseJwkSet) are kept side by
      // side; a token must verify under one of them.
      if (list) list.push(key);
      else this.byKid.set(key.kid, [key]);
    }
  }

  get size(): number {
    return this.keys.length;
  }

  kids(): string[] {
    return [...this.byKid.keys()];
  }

  /**
   * Keys a token may be checked against. A token without `kid` is matched only when exactly one key
   * can verify its algorithm, so no token makes us try every key in turn.
   */
  candidates(kid: string | undefined, alg: string): readonly VerificationKey[] | undefined {
    if (kid !== undefined) return this.byKid.get(kid);
    const fitting = this.keys.filter((k) => k.verifiers.has(alg));
    return fitting.length === 1 ? fitting : undefined;
  }

  /** Whether this very key (not just its kid) is part of the set. */
  contains(key: VerificationKey): boolean {
    return this.members.has(key);
  }

  has(kid: string | undefined): boolean {
    return kid === undefined ? this.keys.length > 0 : this.byKid.has(kid);
  }
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Only the public members, so nothing unexpected reaches the key import. */
function publicJwk(jwk: Record<string, unknown>): JsonWebKey {
  if (jwk.kty === 'RSA') return { kty: 'RSA', n: jwk.n as string, e: jwk.e as string };
  if (jwk.kty === 'EC') return { kty: 'EC', crv: jwk.crv as string, x: jwk.x as string, y: jwk.y as string };
  return { kty: 'OKP', crv: jwk.crv as string, x: jwk.x as string };
}

function parseKey(jwk: unknown, algorithms: readonly string[]): VerificationKey | RejectedKeyReason {
  if (!isObject(jwk)) return 'not-an-object';
  const kty = jwk.kty;
  if (kty !== 'RSA' && kty !== 'EC' && kty !== 'OKP') return 'unsupported-kty';
  if (PRIVATE_MEMBERS.some((m) => m in jwk)) return 'private-key';
  if (jwk.use !== undefined && jwk.use !== 'sig') return 'not-for-signing';
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) return 'not-for-signing';
  if (jwk.kid !== undefined && (typeof jwk.kid !== 'string' || !SAFE_KID.test(jwk.kid))) return 'bad-kid';
  if (jwk.alg !== undefined && (typeof jwk.alg !== 'string' || !(jwk.alg in ALGORITHM_SPECS))) return 'unsupported-alg';
  for (const member of ['n', 'e', 'crv', 'x', 'y']) {
    if (member in jwk && typeof jwk[member] !== 'string') return 'invalid-key-material';
  }
  if (kty === 'OKP' && typeof jwk.x === 'string' && typeof jwk.crv === 'string') {
    const problem = eddsaKeyProblem(jwk.crv, jwk.x);
    if (problem !== null) return problem;
  }

  let keyObject: KeyObject;
  try {
    // Node validates the key material here, including that an EC point lies on its curve.
    keyObject = createPublicKey({ key: publicJwk(jwk), format: 'jwk' });
  } catch {
    return 'invalid-key-material';
  }
  if (kty === 'RSA') {
    const problem = rsaKeyProblem(keyObject, jwk.n as string);
    if (problem !== null) return problem;
  }

  const verifiers = new Map<string, VerifyKeyObjectInput>();
  for (const alg of algorithms) {
    const spec = ALGORITHM_SPECS[alg];
    if (!spec || spec.kty !== kty) continue;
    if (jwk.alg !== undefined && jwk.alg !== alg) continue;
    if (spec.curves && !spec.curves.includes(jwk.crv as string)) continue;
    verifiers.set(alg, verifyInput(spec, keyObject));
  }
  if (verifiers.size === 0) return kty === 'RSA' ? 'no-allowed-algorithm' : 'unsupported-curve';
  return { kid: jwk.kid as string | undefined, kty, keyObject, verifiers };
}

/**
 * Parses the raw JWKS text into a `KeyIndex`. Individual bad keys are skipped and counted, as are
 * keys beyond `JWKS_LIMITS.maxKeysPerKid` under one kid (so no token is checked against more);
 * a set that is not `{ "keys": [...] }`, is over the key cap, or has no usable key is a failed fetch.
 * @throws JwksFetchError
 */
export function parseJwkSet(text: string, algorithms: readonly string[], maxKeys: number): KeyIndex {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new JwksFetchError('JWKS response is not valid JSON', 'parse');
  }
  if (!isObject(doc) || !Array.isArray(doc.keys)) {
    throw new JwksFetchError('JWKS response has no "keys" array', 'parse');
  }
  if (doc.keys.length > maxKeys) {
    throw new JwksFetchError(`JWKS has ${doc.keys.length} keys, more than the cap of ${maxKeys}`, 'too-large');
  }
  const keys: VerificationKey[] = [];
  const rejected: RejectedKeyReason[] = [];
  const perKid = new Map<string, number>();
  for (const jwk of doc.keys) {
    const parsed = parseKey(jwk, algorithms);
    if (typeof parsed === 'string') {
      rejected.push(parsed);
      continue;
    }
    if (parsed.kid !== undefined) {
      const count = perKid.get(parsed.kid) ?? 0;
      if (count >= JWKS_LIMITS.maxKeysPerKid) {
        rejected.push('duplicate-kid');
        continue;
      }
      perKid.set(parsed.kid, count + 1);
    }
    keys.push(parsed);
  }
  if (keys.length === 0) {
    throw new JwksFetchError(`JWKS has no usable key (${rejected.length} rejected: ${[...new Set(rejected)].join(', ') || 'empty set'})`, 'no-usable-keys');
  }
  return new KeyIndex(keys, rejected);
}
