import { generateKeyPairSync, type JsonWebKey } from 'node:crypto';
import { SignatureInvalidError, KeyNotFoundError } from '../../lib';
import { JWKS_LIMITS } from '../../lib/jwks-auth.constants';
import { parseJwkSet } from '../../lib/verify/jwk-set.parser';
import { b64, claimsAt, makeVerifier, signSegments, signingKey } from './verifier.harness';

const P25519 = 2n ** 255n - 19n;
const P448 = 2n ** 448n - 2n ** 224n - 1n;
/** y of the two Ed25519 points of order 8 (the other two are their negatives, p − y). */
const Y_ORDER8 = 0x7a03ac9277fdc74ec6cc392cfa53202a0f67100d760b3cba4fd84d3d706a17c7n;

/** Little-endian bytes of `y`, as RFC 8032 encodes a point; `signBit` is the x sign in the top bit. */
function encodePoint(y: bigint, bytes: number, signBit = false): string {
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++, y >>= 8n) out[i] = Number(y & 0xffn);
  if (signBit) out[bytes - 1] |= 0x80;
  return out.toString('base64url');
}
const ed25519 = (y: bigint, signBit = false) => ({ kty: 'OKP', crv: 'Ed25519', x: encodePoint(y, 32, signBit), kid: 'bad' });
const ed448 = (y: bigint, signBit = false) => ({ kty: 'OKP', crv: 'Ed448', x: encodePoint(y, 57, signBit), kid: 'bad' });

const good = { ...generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }), kid: 'good' };
const parse = (jwk: unknown) => parseJwkSet(JSON.stringify({ keys: [good, jwk] }), ['EdDSA'], 100);

describe('small-order and non-canonical EdDSA keys are refused at load', () => {
  it.each<[string, object]>([
    ['the identity (order 1)', ed25519(1n)],
    ['the all-zero placeholder (order 4)', ed25519(0n)],
    ['y = 0 with the sign bit (order 4)', ed25519(0n, true)],
    ['(0, −1) (order 2)', ed25519(P25519 - 1n)],
    ['a point of order 8', ed25519(Y_ORDER8)],
    ['its negative', ed25519(Y_ORDER8, true)],
    ['the other point of order 8', ed25519(P25519 - Y_ORDER8)],
    ['the identity with the sign bit set', ed25519(1n, true)],
    ['Ed448 identity', ed448(1n)],
    ['Ed448 (0, −1)', ed448(P448 - 1n)],
    ['Ed448 points of order 4 (y = 0)', ed448(0n)],
    ['Ed448 y = 0 with the sign bit', ed448(0n, true)],
  ])('Ed25519/Ed448: %s', (_name, jwk) => {
    const index = parse(jwk);
    expect(index.rejected).toEqual(['weak-eddsa-key']);
    expect(index.kids()).toEqual(['good']);
  });

  it.each<[string, object]>([
    ['y = p (a second spelling of y = 0)', ed25519(P25519)],
    ['y = p + 1 (a second spelling of the identity)', ed25519(P25519 + 1n)],
    ['y = 2^255 − 1', ed25519(2n ** 255n - 1n, true)],
    ['Ed448 y = p', ed448(P448)],
    ['Ed448 y = p + 1', ed448(P448 + 1n)],
    ['Ed448 with bits set beside the sign bit', { kty: 'OKP', crv: 'Ed448', x: Buffer.concat([Buffer.from(encodePoint(5n, 56), 'base64url'), Buffer.from([0x01])]).toString('base64url'), kid: 'bad' }],
    ['Ed25519 x of 31 bytes', { kty: 'OKP', crv: 'Ed25519', x: Buffer.alloc(31, 9).toString('base64url'), kid: 'bad' }],
  ])('non-canonical: %s', (_name, jwk) => {
    const index = parse(jwk);
    expect(index.rejected).toEqual(['invalid-key-material']);
    expect(index.kids()).toEqual(['good']);
  });

  it('keeps genuine Ed25519 and Ed448 keys', () => {
    for (let i = 0; i < 20; i++) {
      const keys = [good, { ...generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }), kid: 'a' }, { ...generateKeyPairSync('ed448').publicKey.export({ format: 'jwk' }), kid: 'b' }];
      expect(parseJwkSet(JSON.stringify({ keys }), ['EdDSA'], 100).rejected).toEqual([]);
    }
  });

  it('a forged token (R = identity, S = 0) does not verify against a set holding the identity key', async () => {
    const real = signingKey('EdDSA');
    const { verifier, clock } = makeVerifier([real.jwk, ed25519(1n)], { algorithms: ['EdDSA'] });
    const identityR = Buffer.from(encodePoint(1n, 32), 'base64url');
    const forged = `${b64({ alg: 'EdDSA', kid: 'bad' })}.${b64(claimsAt(clock, { sub: 'admin' }))}.${b64(Buffer.concat([identityR, Buffer.alloc(32)]))}`;
    await expect(verifier.verify(forged)).rejects.toBeInstanceOf(KeyNotFoundError);
    // The genuine key in the same set still verifies its own tokens.
    await expect(verifier.verify(signSegments(b64({ alg: 'EdDSA', kid: 'k1' }), b64(claimsAt(clock)), real))).resolves.toMatchObject({ sub: 'alice' });
  });
});

describe('what one token can cost is bounded', () => {
  const rsa2048 = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }) as JsonWebKey;
  const rsaGood = { ...rsa2048, kid: 'good' };
  const parseRsa = (...jwks: unknown[]) => parseJwkSet(JSON.stringify({ keys: [rsaGood, ...jwks] }), ['RS256'], 100);
  const exponent = (e: bigint) => Buffer.from(e.toString(16).padStart(e.toString(16).length + (e.toString(16).length % 2), '0'), 'hex').toString('base64url');

  it(`skips RSA moduli over ${JWKS_LIMITS.maxRsaModulusBits} bits and keeps ${JWKS_LIMITS.maxRsaModulusBits}-bit ones`, () => {
    const big = generateKeyPairSync('rsa', { modulusLength: JWKS_LIMITS.maxRsaModulusBits + 1024 }).publicKey.export({ format: 'jwk' });
    expect(parseRsa({ ...big, kid: 'big' }).rejected).toEqual(['oversized-rsa-key']);
    const max = generateKeyPairSync('rsa', { modulusLength: JWKS_LIMITS.maxRsaModulusBits }).publicKey.export({ format: 'jwk' });
    expect(parseRsa({ ...max, kid: 'max' }).kids()).toEqual(['good', 'max']);
  });

  it.each([[2n ** 64n - 1n], [65539n], [2n ** 255n + 1n]])(`skips RSA public exponent %p (over ${JWKS_LIMITS.maxRsaPublicExponent})`, (e) => {
    expect(parseRsa({ ...rsa2048, e: exponent(e), kid: 'e' }).rejected).toEqual(['oversized-rsa-key']);
  });

  it('keeps public exponents 3 and 65537', () => {
    expect(parseRsa({ ...rsa2048, e: exponent(3n), kid: 'e3' }, { ...rsa2048, e: exponent(65537n), kid: 'e65537' }).kids()).toEqual(['good', 'e3', 'e65537']);
  });

  it(`keeps at most ${JWKS_LIMITS.maxKeysPerKid} keys under one kid, so a junk token is checked against at most that many`, () => {
    const shared = Array.from({ length: 99 }, () => ({ ...rsa2048, kid: 'shared' }));
    const index = parseJwkSet(JSON.stringify({ keys: shared }), ['RS256'], 100);
    expect(index.candidates('shared', 'RS256')).toHaveLength(JWKS_LIMITS.maxKeysPerKid);
    expect(index.rejected).toEqual(Array(99 - JWKS_LIMITS.maxKeysPerKid).fill('duplicate-kid'));
  });

  it('a junk token against a hostile set (99 keys under one kid) is refused after at most the capped checks', async () => {
    const real = signingKey('RS256');
    const hostile = Array.from({ length: 98 }, () => ({ ...rsa2048, kid: 'k1' }));
    const { verifier, resolver, clock } = makeVerifier([...hostile, real.jwk]);
    expect(resolver.index.candidates('k1', 'RS256')).toHaveLength(JWKS_LIMITS.maxKeysPerKid);
    const junk = `${b64({ alg: 'RS256', kid: 'k1' })}.${b64(claimsAt(clock))}.${b64(Buffer.alloc(256, 7))}`;
    await expect(verifier.verify(junk)).rejects.toBeInstanceOf(SignatureInvalidError);
  });
});
