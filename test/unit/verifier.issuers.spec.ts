import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import {
  AlgorithmNotAllowedError,
  AudienceMismatchError,
  ClaimInvalidError,
  IssuerMismatchError,
  KeyNotFoundError,
  KeyRevokedError,
  SignatureInvalidError,
  TokenTypeError,
  type JwksAuthModuleOptions,
} from '../../lib';
import { IssuerRegistry } from '../../lib/issuers/issuer.registry';
import { issuerRoute, StaticIssuerRouter, type KeyResolver } from '../../lib/verify/issuer.route';
import { JwtVerifier } from '../../lib/verify/jwt.verifier';
import type { VerificationKey } from '../../lib/verify/jwk-set.parser';
import { resolveJwksOptions } from '../../lib/options/options.validator';
import type { JwksFetcher, JwksFetchRequest } from '../../lib/fetch/jwks.fetcher';
import type { DiscoveryFetcher } from '../../lib/fetch/discovery.fetcher';
import { FakeClock } from '../../lib/testing';
import { b64, signSegments } from './verifier.harness';

/*
 * How the verifier routes a token by its `iss` to that issuer's rules and key set: over a real
 * IssuerRegistry fed by a fake fetcher, and over spy key resolvers where the point is that no key
 * lookup happens at all.
 */

const A = 'https://a.test/';
const B = 'https://b.test/';
const C = 'https://cognito.test/pool';
const T0 = 1_700_000_000_000;

interface Signer {
  alg: string;
  privateKey: KeyObject;
  jwk: Record<string, unknown>;
}
function signer(alg: 'ES256' | 'RS256', kid: string): Signer {
  const pair = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { alg, privateKey: pair.privateKey, jwk: { ...pair.publicKey.export({ format: 'jwk' }), kid, alg } };
}

// A and B both publish a key under the kid "shared": different keys, one per tenant.
const A_SHARED = signer('ES256', 'shared');
const B_SHARED = signer('ES256', 'shared');
const A_RSA = signer('RS256', 'a-rsa');
const B_RSA = signer('RS256', 'b-rsa');
const C_KEY = signer('ES256', 'c1');

const SETS: Record<string, Signer[]> = {
  [`${A}jwks`]: [A_SHARED, A_RSA],
  [`${B}jwks`]: [B_SHARED, B_RSA],
  [`${C}/jwks`]: [C_KEY],
};

const MODULE: JwksAuthModuleOptions = {
  issuers: [
    { issuer: A, jwksUri: `${A}jwks`, audience: 'api-a', algorithms: ['ES256', 'RS256'], typ: 'at+jwt' },
    // B accepts ES256 only: its own RSA key is skipped when its set is read.
    { issuer: B, jwksUri: `${B}jwks`, audience: 'api-b', algorithms: ['ES256'] },
    { issuer: C, jwksUri: `${C}/jwks`, audience: 'client-1', audienceClaim: 'client_id', requiredClaimValues: { token_use: 'access' }, algorithms: ['ES256'] },
  ],
  verifiedTokenCache: true,
};

const now = () => Math.floor(T0 / 1000);

function token(key: Signer, claims: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  return signSegments(b64({ alg: key.alg, kid: key.jwk.kid, ...header }), b64({ iat: now(), exp: now() + 300, sub: 'alice', ...claims }), key);
}
const forA = (claims: Record<string, unknown> = {}, key = A_SHARED, header: Record<string, unknown> = { typ: 'at+jwt' }) => token(key, { iss: A, aud: 'api-a', ...claims }, header);
const forB = (claims: Record<string, unknown> = {}, key = B_SHARED, header: Record<string, unknown> = {}) => token(key, { iss: B, aud: 'api-b', ...claims }, header);
const forC = (claims: Record<string, unknown> = {}) => token(C_KEY, { iss: C, client_id: 'client-1', token_use: 'access', ...claims });

async function registryVerifier(input: JwksAuthModuleOptions = MODULE) {
  const options = resolveJwksOptions(input);
  const requests: JwksFetchRequest[] = [];
  const fetcher: JwksFetcher = async (request) => {
    requests.push(request);
    return { kind: 'ok', jwks: JSON.stringify({ keys: SETS[request.uri].map((s) => s.jwk) }), etag: null };
  };
  const discover: DiscoveryFetcher = async () => {
    throw new Error('not used');
  };
  const clock = new FakeClock(T0, { random: () => 0.5 });
  const registry = new IssuerRegistry({ options, clock, fetcher, discover, store: { load: async () => null, save: async () => {} }, listeners: [] });
  await registry.start();
  return { verifier: new JwtVerifier(options, registry, clock), registry, requests, clock };
}

/** A key resolver that only counts: any call to it is a key lookup the test says must not happen. */
class SpyResolver implements KeyResolver {
  calls = 0;
  peekKeys(): readonly VerificationKey[] | undefined {
    this.calls++;
    return undefined;
  }
  resolveKeys(): Promise<readonly VerificationKey[]> {
    this.calls++;
    return Promise.reject(new KeyNotFoundError('spy'));
  }
  isKeyCurrent(): boolean {
    return true;
  }
}

function spyVerifier() {
  const options = resolveJwksOptions(MODULE);
  const spies = options.issuers.map(() => new SpyResolver());
  const router = new StaticIssuerRouter(options.issuers.map((issuer, i) => issuerRoute(issuer, spies[i])));
  return { verifier: new JwtVerifier(options, router, new FakeClock(T0)), spies, lookups: () => spies.reduce((n, s) => n + s.calls, 0) };
}

/** The refusal of a verification, synchronous or not. */
async function refusal(verifier: JwtVerifier, jwt: string): Promise<unknown> {
  try {
    await verifier.verifyOrDefer(jwt);
  } catch (err) {
    return err;
  }
  throw new Error('the token was accepted');
}

describe('JwtVerifier routing by iss', () => {
  it.each([
    ['an unknown issuer', { iss: 'https://evil.test/' }],
    ['an issuer differing by a trailing slash', { iss: 'https://a.test' }],
    ['no iss', { iss: undefined }],
    ['a numeric iss', { iss: 42 }],
    ['an array holding a configured issuer', { iss: [A] }],
    ['iss "__proto__"', { iss: '__proto__' }],
    ['iss "constructor"', { iss: 'constructor' }],
  ])('refuses %s with IssuerMismatchError before any key lookup', async (_what, claims) => {
    const { verifier, lookups } = spyVerifier();
    const err = await refusal(verifier, token(A_SHARED, { aud: 'api-a', ...claims }, { typ: 'at+jwt' }));
    expect(err).toBeInstanceOf(IssuerMismatchError);
    expect((err as Error).message).toBe(`token issuer is not one of the 3 configured issuers ("${A}", "${B}", "${C}")`);
    expect(lookups()).toBe(0);
  });

  it('fetches nothing for any number of tokens of unknown issuers', async () => {
    const { verifier, requests } = await registryVerifier();
    const before = requests.length;
    for (let i = 0; i < 200; i++) {
      expect(await refusal(verifier, token(A_SHARED, { iss: `https://tenant-${i}.evil.test/`, aud: 'api-a' }, { kid: `kid-${i}` }))).toBeInstanceOf(IssuerMismatchError);
    }
    expect(requests.length).toBe(before);
    expect(verifier.refusalCounts()).toEqual({ ERR_JWT_ISSUER: 200 });
  });

  it('takes each token’s keys from its own issuer', async () => {
    const { verifier } = await registryVerifier();
    await expect(verifier.verifyWithKey(forA())).resolves.toMatchObject({ claims: { iss: A }, key: { kid: 'shared' } });
    await expect(verifier.verifyWithKey(forB())).resolves.toMatchObject({ claims: { iss: B }, key: { kid: 'shared' } });
    const a = await verifier.verifyWithKey(forA());
    const b = await verifier.verifyWithKey(forB());
    expect(a.key).not.toBe(b.key);
  });
});

describe('JwtVerifier per-issuer rules', () => {
  it('refuses an algorithm only another issuer accepts, before any key lookup', async () => {
    const { verifier, spies } = spyVerifier();
    expect(await refusal(verifier, forB({}, B_RSA))).toBeInstanceOf(AlgorithmNotAllowedError);
    expect(spies[1].calls).toBe(0);
    const real = (await registryVerifier()).verifier;
    await expect(real.verify(forA({}, A_RSA))).resolves.toMatchObject({ iss: A });
    const err = await refusal(real, forB({}, B_RSA));
    expect(err).toBeInstanceOf(AlgorithmNotAllowedError);
    expect((err as Error).message).toBe('algorithm "RS256" is not accepted for this issuer');
  });

  it('requires typ only of the issuer that sets it', async () => {
    const { verifier } = await registryVerifier();
    expect(await refusal(verifier, forA({}, A_SHARED, {}))).toBeInstanceOf(TokenTypeError);
    expect(await refusal(verifier, forA({}, A_SHARED, { typ: 'JWT' }))).toBeInstanceOf(TokenTypeError);
    await expect(verifier.verify(forA({}, A_SHARED, { typ: 'application/AT+JWT' }))).resolves.toMatchObject({ iss: A });
    await expect(verifier.verify(forB({}, B_SHARED, {}))).resolves.toMatchObject({ iss: B });
    await expect(verifier.verify(forB({}, B_SHARED, { typ: 'JWT' }))).resolves.toMatchObject({ iss: B });
  });

  it('audienceClaim client_id: one string client_id; aud is ignored', async () => {
    const { verifier } = await registryVerifier();
    await expect(verifier.verify(forC())).resolves.toMatchObject({ iss: C, client_id: 'client-1' });
    await expect(verifier.verify(forC({ aud: 'someone-else' }))).resolves.toMatchObject({ iss: C });
    const asArray = await refusal(verifier, forC({ client_id: ['client-1'] }));
    expect(asArray).toBeInstanceOf(AudienceMismatchError);
    expect((asArray as Error).message).toBe('token client_id is none of the configured "client-1"');
    expect(await refusal(verifier, forC({ client_id: undefined, aud: 'client-1' }))).toBeInstanceOf(AudienceMismatchError);
    expect(await refusal(verifier, forC({ client_id: 'client-2', aud: 'client-1' }))).toBeInstanceOf(AudienceMismatchError);
    // The other issuers still read `aud`.
    expect(await refusal(verifier, forB({ aud: undefined, client_id: 'api-b' }))).toBeInstanceOf(AudienceMismatchError);
  });

  it.each([
    ['a different value', { token_use: 'id' }],
    ['no such claim', { token_use: undefined }],
    ['the value in an array', { token_use: ['access'] }],
  ])('requiredClaimValues refuses %s', async (_what, claims) => {
    const { verifier } = await registryVerifier();
    const err = await refusal(verifier, forC(claims));
    expect(err).toBeInstanceOf(ClaimInvalidError);
    expect((err as Error).message).toBe('claim "token_use" must be "access"');
  });

  it('requiredClaimValues of one issuer are not required of another', async () => {
    const { verifier } = await registryVerifier();
    await expect(verifier.verify(forB())).resolves.not.toHaveProperty('token_use');
  });
});

describe('JwtVerifier keys never cross issuers', () => {
  it('a kid two issuers publish verifies only its own issuer’s tokens', async () => {
    const { verifier } = await registryVerifier();
    // Signed with A's "shared" key, but naming B: B's "shared" key is checked, and does not verify.
    expect(await refusal(verifier, forB({}, A_SHARED))).toBeInstanceOf(SignatureInvalidError);
    expect(await refusal(verifier, forA({}, B_SHARED))).toBeInstanceOf(SignatureInvalidError);
    // Also once A's genuine token sits in the verified-token cache.
    await verifier.verify(forA());
    expect(await refusal(verifier, forB({}, A_SHARED))).toBeInstanceOf(SignatureInvalidError);
  });

  it('the verified-token cache re-checks the key set of the token’s own issuer', async () => {
    const { verifier, registry } = await registryVerifier();
    const tA = forA();
    const tB = forB();
    await verifier.verify(tA);
    await verifier.verify(tB);
    expect(verifier.verifiedTokenCacheStats()).toMatchObject({ hits: 0, size: 2 });
    await verifier.verify(tA);
    await verifier.verify(tB);
    expect(verifier.verifiedTokenCacheStats().hits).toBe(2);

    // B revokes its kid "shared": B's cached token stops; A's, under the same kid, is untouched.
    registry.source(B).revokeKey('shared');
    expect(await refusal(verifier, tB)).toBeInstanceOf(KeyRevokedError);
    await expect(verifier.verify(tA)).resolves.toMatchObject({ iss: A });
    expect(verifier.verifiedTokenCacheStats().hits).toBe(3);
    registry.source(B).restoreKey('shared');
    await expect(verifier.verify(tB)).resolves.toMatchObject({ iss: B });

    // B is removed: its cached token is refused at once; A's is still served from the cache.
    await registry.remove(B);
    const hits = verifier.verifiedTokenCacheStats().hits;
    expect(await refusal(verifier, tB)).toBeInstanceOf(IssuerMismatchError);
    await expect(verifier.verify(tA)).resolves.toMatchObject({ iss: A });
    expect(verifier.verifiedTokenCacheStats().hits).toBe(hits + 1);
    await registry.close();
  });
});
