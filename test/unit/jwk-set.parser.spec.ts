import { generateKeyPairSync, type JsonWebKey } from 'node:crypto';
import { JwksFetchError } from '../../lib';
import { parseJwkSet } from '../../lib/verify/jwk-set.parser';
import { isRocaVulnerable } from '../../lib/verify/rsa-key.checks';

const rsa = (bits = 2048): JsonWebKey => generateKeyPairSync('rsa', { modulusLength: bits }).publicKey.export({ format: 'jwk' });
const ec = (): JsonWebKey => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
const ALGS = ['RS256', 'PS256', 'ES256'];
const good = { ...rsa(), kid: 'good' };
const parse = (...keys: unknown[]) => parseJwkSet(JSON.stringify({ keys: [good, ...keys] }), ALGS, 100);

// The ROCA test key from Wycheproof's json_web_key_test.json (tcId 7).
const ROCA_N =
  'AanFpofbj7KjD4Lf-N2hVMKR7yewSyXhhbirIMTGpfYEhZ_lnt5UoK98DnKIgArXGTu3MaW_HhFw16HGaTDUHqPrId7fe4r11CqRw09yBFuW79V8sYIwHdzCaWflUI6auImYbVfoN9_nD5n8N8SY9DwXw7mwZM9wREPXoDPgOoIWl6q_MPsp7n0zs3Z5ZaiQWOOzl1S9OhwAfSiiOwz6efnXEaxuTEtPd7BjSx7NaFka8Dx9U7YqXy2RFj1O9PjyaDGuRh7YXsX3iMUSP_wSyHQg_c_qHRtKUsNSGCT7OZg0hzm2KphtjnayKJvC64vAbROBR4Ubg6Bxg9IQVZ-QYyE';

describe('key acceptance when a set is loaded', () => {
  it.each<[string, unknown, string]>([
    ['a symmetric key', { kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ', kid: 'h' }, 'unsupported-kty'],
    ['a private RSA key', { ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), kid: 'p' }, 'private-key'],
    ['an encryption key', { ...rsa(), use: 'enc', kid: 'e' }, 'not-for-signing'],
    ['key_ops without verify', { ...rsa(), key_ops: ['encrypt'], kid: 'o' }, 'not-for-signing'],
    ['a 1024-bit RSA key', { ...rsa(1024), kid: 'w' }, 'weak-rsa-key'],
    ['public exponent 1', { ...rsa(), e: 'AQ', kid: 'x' }, 'weak-rsa-key'],
    ['an even public exponent', { ...rsa(), e: 'AQAA', kid: 'x2' }, 'weak-rsa-key'],
    ['a ROCA-vulnerable modulus', { kty: 'RSA', n: ROCA_N, e: 'AQAB', kid: 'roca' }, 'weak-rsa-key'],
    ['an EC point off its curve', { ...ec(), y: 'UI8exy-C06a7DUnjIdENkxeFtHM4-l_41LqEw9nVgnw', kid: 'pt' }, 'invalid-key-material'],
    ['a P-256 point labelled P-384', { ...ec(), crv: 'P-384', kid: 'c' }, 'invalid-key-material'],
    ['EC members under kty RSA', { ...ec(), kty: 'RSA', kid: 'k' }, 'invalid-key-material'],
    ['an unregistered alg', { ...ec(), alg: 'ES521', kid: 'a' }, 'unsupported-alg'],
    ['a kid with CRLF', { ...rsa(), kid: 'a\r\nb' }, 'bad-kid'],
    ['a 1,000-character kid', { ...rsa(), kid: 'k'.repeat(1000) }, 'bad-kid'],
    ['a numeric kid', { ...rsa(), kid: 7 }, 'bad-kid'],
    ['a non-object', 'junk', 'not-an-object'],
  ])('skips %s and keeps the rest', (_name, jwk, reason) => {
    const index = parse(jwk);
    expect(index.rejected).toEqual([reason]);
    expect(index.kids()).toEqual(['good']);
  });

  it('detects the ROCA fingerprint and passes ordinary moduli', () => {
    expect(isRocaVulnerable(ROCA_N)).toBe(true);
    for (let i = 0; i < 3; i++) expect(isRocaVulnerable(rsa().n as string)).toBe(false);
  });

  it('keeps keys with duplicate kids side by side', () => {
    const index = parse({ ...rsa(), kid: 'good' });
    expect(index.candidates('good', 'RS256')).toHaveLength(2);
  });

  it('fails the whole fetch on no usable key, a missing keys array, or too many keys', () => {
    expect(() => parseJwkSet('{"keys":[{"kty":"oct","k":"AA"}]}', ALGS, 100)).toThrow(JwksFetchError);
    expect(() => parseJwkSet('{"keys":{}}', ALGS, 100)).toThrow(/no "keys" array/);
    expect(() => parseJwkSet('[]', ALGS, 100)).toThrow(/no "keys" array/);
    expect(() => parseJwkSet(JSON.stringify({ keys: Array(101).fill(good) }), ALGS, 100)).toThrow(/more than the cap/);
  });

  it('binds each key to the configured algorithms it fits', () => {
    const index = parseJwkSet(JSON.stringify({ keys: [{ ...rsa(), kid: 'r', alg: 'PS256' }, { ...ec(), kid: 'e' }] }), ALGS, 100);
    expect([...index.candidates('r', 'PS256')![0].verifiers.keys()]).toEqual(['PS256']);
    expect([...index.candidates('e', 'ES256')![0].verifiers.keys()]).toEqual(['ES256']);
    expect(() => parseJwkSet(JSON.stringify({ keys: [{ ...ec(), kid: 'e' }] }), ['RS256'], 100)).toThrow(JwksFetchError);
  });
});
