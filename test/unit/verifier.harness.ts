import { generateKeyPairSync, sign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { KeyNotFoundError, type JwksAuthModuleOptions } from '../../lib';
import { resolveJwksOptions } from '../../lib/options/options.validator';
import { ALGORITHM_SPECS } from '../../lib/verify/algorithms';
import { parseJwkSet, type KeyIndex, type VerificationKey } from '../../lib/verify/jwk-set.parser';
import { JwtVerifier, type KeyResolver } from '../../lib/verify/jwt.verifier';
import { FakeClock } from '../../lib/testing';

export const ISSUER = 'https://issuer.example.test/';
export const AUDIENCE = 'https://api.example.test';

/** base64url of a JSON value, a raw string or raw bytes. */
export const b64 = (value: unknown): string =>
  (Buffer.isBuffer(value) ? value : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value))).toString('base64url');

/** A signing key of the given algorithm, with its public JWK (kid `k1`). */
export function signingKey(alg: 'RS256' | 'EdDSA' = 'RS256'): { alg: string; privateKey: KeyObject; jwk: JsonWebKey } {
  const pair = alg === 'EdDSA' ? generateKeyPairSync('ed25519') : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { alg, privateKey: pair.privateKey, jwk: { ...pair.publicKey.export({ format: 'jwk' }), kid: 'k1' } };
}

/** A compact JWS over raw header and payload segments (already base64url), signed with `key`. */
export function signSegments(header: string, payload: string, key: { alg: string; privateKey: KeyObject }): string {
  const input = `${header}.${payload}`;
  const spec = ALGORITHM_SPECS[key.alg];
  return `${input}.${sign(spec.hash, Buffer.from(input), { key: key.privateKey, ...spec.params }).toString('base64url')}`;
}

/**
 * Key lookups over a parsed set, without a cache service: synchronous by default; with `onFetch`,
 * every lookup goes the asynchronous way (as an unknown kid that triggers a refetch does) and
 * `onFetch` runs before the keys are handed back.
 */
export class IndexResolver implements KeyResolver {
  constructor(
    public index: KeyIndex,
    private readonly onFetch?: () => Promise<void>,
  ) {}

  peekKeys(kid: string | undefined, alg: string): readonly VerificationKey[] | undefined {
    if (this.onFetch) return undefined;
    return this.lookup(kid, alg);
  }

  async resolveKeys(kid: string | undefined, alg: string): Promise<readonly VerificationKey[]> {
    await this.onFetch?.();
    return this.lookup(kid, alg);
  }

  isKeyCurrent(key: VerificationKey): boolean {
    return this.index.contains(key);
  }

  private lookup(kid: string | undefined, alg: string): readonly VerificationKey[] {
    const keys = this.index.candidates(kid, alg);
    if (keys === undefined) throw new KeyNotFoundError('no key with this kid');
    return keys;
  }
}

/** A verifier over a fixed JWKS, on a fake clock, with options as a user would give them. */
export function makeVerifier(
  jwks: unknown[],
  overrides: Partial<JwksAuthModuleOptions> = {},
  opts: { clock?: FakeClock; onFetch?: () => Promise<void> } = {},
): { verifier: JwtVerifier; clock: FakeClock; resolver: IndexResolver } {
  const options = resolveJwksOptions({ issuer: ISSUER, jwksUri: 'https://issuer.example.test/jwks.json', audience: AUDIENCE, ...overrides });
  const clock = opts.clock ?? new FakeClock();
  const resolver = new IndexResolver(parseJwkSet(JSON.stringify({ keys: jwks }), options.algorithms, options.fetch.maxKeys), opts.onFetch);
  return { verifier: new JwtVerifier(options, resolver, clock), clock, resolver };
}

/** Valid claims for this issuer and audience at the clock's time, plus extras. */
export function claimsAt(clock: FakeClock, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(clock.now() / 1000);
  return { iss: ISSUER, aud: AUDIENCE, sub: 'alice', iat: now, exp: now + 300, ...extra };
}
