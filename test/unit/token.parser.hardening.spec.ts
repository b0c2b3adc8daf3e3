import { TokenMalformedError } from '../../lib';
import { JWKS_LIMITS } from '../../lib/jwks-auth.constants';
import { decodeClaims, parseJws } from '../../lib/verify/token.parser';
import { b64, claimsAt, makeVerifier, signSegments, signingKey } from './verifier.harness';

const key = signingKey('RS256');
const header = b64({ alg: 'RS256', kid: 'k1' });
const { verifier, clock } = makeVerifier([key.jwk]);
const signed = (payloadJson: string, h = header) => signSegments(h, b64(payloadJson), key);
const claimsJson = (extra: Record<string, unknown> = {}) => JSON.stringify(claimsAt(clock, extra));

/** `{"a":{"a":…{inner}…}}` with `inner` at nesting depth `depth` (the claims object is depth 1). */
function nested(depth: number, inner: string): string {
  return `${'{"a":'.repeat(depth - 1)}${inner}${'}'.repeat(depth - 1)}`;
}
/** Claims with a member `deep` whose value is an object at `depth` holding `inner`. */
const claimsWithDeep = (depth: number, inner: string) => claimsJson().replace(/}$/, `,"deep":${nested(depth - 1, inner)}}`);

describe('__proto__ at any depth, and nesting beyond a bound', () => {
  it.each([2, 10, 33, 34, 35, 60])('refuses an own "__proto__" member in an object at depth %i', async (depth) => {
    // The old walk looked no deeper than 33 levels (root + 32): depth 34 went through.
    const payload = claimsWithDeep(depth, '{"__proto__":{"isAdmin":true}}');
    expect(Object.hasOwn(JSON.parse(payload), 'deep')).toBe(true);
    await expect(verifier.verify(signed(payload))).rejects.toBeInstanceOf(TokenMalformedError);
  });

  it.each(['\\u005f_proto__', '__pr\\u006Fto__', '__\\u0070\\u0072\\u006f\\u0074o__', '\\u005F\\u005Fproto\\u005f\\u005f'])(
    'refuses an own "__proto__" member spelled %s, deep down',
    async (spelling) => {
      const payload = claimsWithDeep(20, `{"${spelling}":{"isAdmin":true}}`);
      let inner = JSON.parse(payload).deep;
      while (Object.hasOwn(inner, 'a')) inner = inner.a;
      expect(Object.keys(inner)).toEqual(['__proto__']);
      await expect(verifier.verify(signed(payload))).rejects.toThrow(/__proto__/);
    },
  );

  it('accepts \\u escapes that cannot spell "__proto__"', async () => {
    const claims = await verifier.verify(signed(claimsJson().replace(/}$/, ',"name":"Zo\\u00eb","x":{"__pr\\u00f6to__":1}}')));
    expect(claims.name).toBe('Zoë');
  });

  it(`refuses claims nested deeper than ${JWKS_LIMITS.maxJsonDepth} levels, with or without "__proto__"`, async () => {
    await expect(verifier.verify(signed(claimsWithDeep(JWKS_LIMITS.maxJsonDepth + 1, '{}')))).rejects.toThrow(/nest/);
    await expect(verifier.verify(signed(claimsWithDeep(JWKS_LIMITS.maxJsonDepth + 1, '[]')))).rejects.toBeInstanceOf(TokenMalformedError);
    // Arrays count as levels too.
    const arrays = claimsJson().replace(/}$/, `,"deep":${'['.repeat(JWKS_LIMITS.maxJsonDepth)}${']'.repeat(JWKS_LIMITS.maxJsonDepth)}}`);
    await expect(verifier.verify(signed(arrays))).rejects.toBeInstanceOf(TokenMalformedError);
  });

  it('refuses a header nested deeper than the bound', async () => {
    const deepHeader = b64(JSON.stringify({ alg: 'RS256', kid: 'k1', x: JSON.parse(nested(JWKS_LIMITS.maxJsonDepth, '{}')) }));
    await expect(verifier.verify(signed(claimsJson(), deepHeader))).rejects.toBeInstanceOf(TokenMalformedError);
  });

  it('accepts claims nested right up to the bound, and many shallow brackets', async () => {
    await expect(verifier.verify(signed(claimsWithDeep(JWKS_LIMITS.maxJsonDepth, '{}')))).resolves.toHaveProperty('deep');
    const roles = { resource_access: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`client-${i}`, { roles: ['read', 'write'] }])) };
    await expect(verifier.verify(signed(claimsJson(roles)))).resolves.toHaveProperty('resource_access');
    await expect(verifier.verify(signed(claimsJson({ note: '{[{[{['.repeat(20) })))).resolves.toHaveProperty('note');
  });

  it('refuses a 100,000-level payload with a typed error, not a stack overflow', () => {
    const payload = b64(`${'['.repeat(100_000)}${']'.repeat(100_000)}`.replace(/^\[/, '{"a":[').replace(/\]$/, ']}'));
    const jws = parseJws(`${header}.${payload}.${b64('sig')}`, 1 << 20, new Set(['RS256']));
    expect(() => decodeClaims(jws)).toThrow(TokenMalformedError);
  });
});

describe('invalid UTF-8 is malformed', () => {
  /** A payload whose `name` string holds raw bytes (spliced into otherwise valid JSON). */
  function payloadWithBytes(bytes: number[]): Buffer {
    const [before, after] = claimsJson({ name: '@@' }).split('@@');
    return Buffer.concat([Buffer.from(before), Buffer.from(bytes), Buffer.from(after)]);
  }
  const signedBytes = (payload: Buffer, h = header) => signSegments(h, b64(payload), key);

  it.each([
    ['a lone continuation byte', [0x80]],
    ['an invalid byte', [0xff]],
    ['a truncated sequence', [0xe2, 0x82]],
    ['an overlong encoding of "/"', [0xc0, 0xaf]],
    ['an encoded UTF-16 surrogate', [0xed, 0xa0, 0x80]],
    ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ])('refuses %s in a signed payload', async (_name, bytes) => {
    const err = await verifier.verify(signedBytes(payloadWithBytes(bytes))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenMalformedError);
    expect((err as Error).message).toMatch(/UTF-8/);
  });

  it('refuses invalid UTF-8 in a signed header', async () => {
    const [before, after] = JSON.stringify({ alg: 'RS256', kid: 'k1', typ: '@@' }).split('@@');
    const badHeader = b64(Buffer.concat([Buffer.from(before), Buffer.from([0xff, 0xfe]), Buffer.from(after)]));
    await expect(verifier.verify(signSegments(badHeader, b64(claimsJson()), key))).rejects.toThrow(/UTF-8/);
  });

  it('accepts valid multi-byte UTF-8, including 4-byte sequences', async () => {
    const claims = await verifier.verify(signedBytes(payloadWithBytes([...Buffer.from('Zoë 日本 😀')])));
    expect(claims.name).toBe('Zoë 日本 😀');
  });
});
