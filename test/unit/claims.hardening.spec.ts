import { AudienceMismatchError, ClaimInvalidError, IssuerMismatchError, TokenExpiredError, TokenMalformedError, TokenTooOldError } from '../../lib';
import { FakeClock } from '../../lib/testing';
import { AUDIENCE, ISSUER, b64, claimsAt, makeVerifier, signSegments, signingKey } from './verifier.harness';

const key = signingKey('RS256');
const header = b64({ alg: 'RS256', kid: 'k1' });
const token = (claims: Record<string, unknown>) => signSegments(header, b64(claims), key);

describe('claims are checked at the time the key arrives', () => {
  it('refuses a token that expired while its key was being fetched', async () => {
    const clock = new FakeClock(1_800_000_000_000);
    // The fetch takes 5 s of (fake) time: the token expires 2 s into it.
    const { verifier } = makeVerifier([key.jwk], {}, { clock, onFetch: () => clock.advance(5_000) });
    const expiring = token(claimsAt(clock, { exp: Math.floor(clock.now() / 1000) + 2 }));
    await expect(verifier.verify(expiring)).rejects.toBeInstanceOf(TokenExpiredError);
  });

  it('refuses a token that passed maxTokenAgeSec while its key was being fetched', async () => {
    const clock = new FakeClock(1_800_000_000_000);
    const { verifier } = makeVerifier([key.jwk], { maxTokenAgeSec: 60 }, { clock, onFetch: () => clock.advance(5_000) });
    const aging = token(claimsAt(clock, { iat: Math.floor(clock.now() / 1000) - 58 }));
    await expect(verifier.verify(aging)).rejects.toBeInstanceOf(TokenTooOldError);
  });

  it('still accepts a token that stays valid through the fetch', async () => {
    const clock = new FakeClock(1_800_000_000_000);
    const { verifier } = makeVerifier([key.jwk], {}, { clock, onFetch: () => clock.advance(5_000) });
    const fine = token(claimsAt(clock, { exp: Math.floor(clock.now() / 1000) + 10 }));
    await expect(verifier.verify(fine)).resolves.toMatchObject({ sub: 'alice' });
  });
});

describe('requiredClaims', () => {
  it('are own members of the claims, never inherited from Object.prototype', async () => {
    const { verifier, clock } = makeVerifier([key.jwk], { requiredClaims: ['constructor', 'toString'] });
    await expect(verifier.verify(token(claimsAt(clock)))).rejects.toBeInstanceOf(ClaimInvalidError);
    await expect(verifier.verify(token(claimsAt(clock, { constructor: 'x', toString: 'y' })))).resolves.toMatchObject({ constructor: 'x' });
  });

  it('names the missing claim', async () => {
    const { verifier, clock } = makeVerifier([key.jwk], { requiredClaims: ['sub', 'scope'] });
    await expect(verifier.verify(token(claimsAt(clock)))).rejects.toThrow(/"scope"/);
  });
});

describe('issuer and audience mismatches say what was expected', () => {
  it('names the configured issuer, never the token one', async () => {
    const { verifier, clock } = makeVerifier([key.jwk]);
    const err = await verifier.verify(token(claimsAt(clock, { iss: 'https://evil.example/\r\nX-Injected: 1' }))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IssuerMismatchError);
    expect((err as Error).message).toContain(ISSUER);
    expect((err as Error).message).not.toContain('evil');
  });

  it('names the configured audiences, never the token ones', async () => {
    const { verifier, clock } = makeVerifier([key.jwk], { audience: [AUDIENCE, 'urn:second'] });
    const err = await verifier.verify(token(claimsAt(clock, { aud: ['https://evil.example', 'urn:other'] }))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AudienceMismatchError);
    expect((err as Error).message).toContain(AUDIENCE);
    expect((err as Error).message).toContain('urn:second');
    expect((err as Error).message).not.toContain('evil');
    expect((err as Error).message).not.toContain('urn:other');
  });
});

describe('verify() given something other than a string', () => {
  it.each([[42], [undefined], [null], [{}], [['a.b.c']], [Buffer.from('a.b.c')]])('rejects %p with a coded TokenMalformedError', async (input) => {
    for (const verifiedTokenCache of [false, true]) {
      const { verifier } = makeVerifier([key.jwk], { verifiedTokenCache });
      const err = await verifier.verify(input as unknown as string).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TokenMalformedError);
      expect((err as TokenMalformedError).code).toBe('ERR_JWT_MALFORMED');
      expect(verifier.refusalCounts()).toEqual({ ERR_JWT_MALFORMED: 1 });
    }
  });
});
