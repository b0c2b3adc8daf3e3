import fc from 'fast-check';
import { JwksCacheService, JwtVerificationError } from '../../lib';
import { resolveJwksOptions } from '../../lib/options/options.validator';
import { JwtVerifier } from '../../lib/verify/jwt.verifier';
import type { JwksFetcher } from '../../lib/fetch/jwks.fetcher';
import { FakeClock, TestIssuer } from '../../lib/testing';
import { b64, craft } from '../fixtures/craft';

/**
 * Properties over arbitrary input: the verifier either returns verified claims or throws one of
 * our typed JwtVerificationErrors (never anything else, never a crash), and however many tokens
 * arrive, upstream fetches stay within what the cooldown allows.
 */
/** The oracle for prototype pollution: an own "__proto__" key anywhere (a "__proto__" string value is harmless). */
function hasOwnProtoKey(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  return Object.prototype.hasOwnProperty.call(value, '__proto__') || Object.values(value).some(hasOwnProtoKey);
}

describe('JwtVerifier properties (fast-check)', () => {
  let issuer: TestIssuer;
  let verifier: JwtVerifier;
  let fetches = 0;
  const clock = new FakeClock();

  beforeAll(async () => {
    issuer = await TestIssuer.start();
    const options = resolveJwksOptions({ issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: issuer.audience });
    const fetcher: JwksFetcher = async () => {
      fetches++;
      return { kind: 'ok', jwks: JSON.stringify(issuer.jwks()), etag: null };
    };
    const cache = new JwksCacheService(options, clock, fetcher);
    await cache.onApplicationBootstrap();
    verifier = new JwtVerifier(options, cache.registry, clock);
  });
  afterAll(async () => {
    await issuer.close();
  });

  async function outcome(token: string): Promise<'valid' | 'refused'> {
    try {
      await verifier.verify(token);
      return 'valid';
    } catch (err) {
      if (err instanceof JwtVerificationError) return 'refused';
      throw err;
    }
  }

  it('refuses arbitrary strings with a typed error', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.stringMatching(/^[A-Za-z0-9_.-]{0,400}$/)), async (token) => {
        expect(await outcome(token)).toBe('refused');
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses arbitrary JSON headers and payloads, unsigned or signed with an attacker key, with a typed error', async () => {
    const { privateKey } = await import('node:crypto').then((c) => c.generateKeyPairSync('rsa', { modulusLength: 2048 }));
    const headers = fc.oneof(
      fc.jsonValue(),
      fc.record({ alg: fc.oneof(fc.constantFrom('RS256', 'none', 'HS256', 'ES256'), fc.jsonValue()), kid: fc.oneof(fc.constant(issuer.kid), fc.string(), fc.jsonValue()) }, { requiredKeys: [] }),
    );
    const payloads = fc.oneof(
      fc.jsonValue(),
      fc.record(
        {
          iss: fc.oneof(fc.constant(issuer.issuer), fc.jsonValue()),
          aud: fc.oneof(fc.constant(issuer.audience), fc.jsonValue()),
          exp: fc.oneof(fc.integer(), fc.double(), fc.jsonValue()),
          nbf: fc.oneof(fc.integer(), fc.jsonValue()),
        },
        { requiredKeys: [] },
      ),
    );
    await fc.assert(
      fc.asyncProperty(headers, payloads, fc.boolean(), async (header, payload, sign) => {
        const token = craft(b64(header), b64(payload), sign ? { rsa: privateKey } : {});
        expect(await outcome(token)).toBe('refused');
      }),
      { numRuns: 1500 },
    );
  });

  it('accepts exactly the genuine tokens among arbitrary claims signed with the real key', async () => {
    const now = Math.floor(clock.now() / 1000);
    await fc.assert(
      fc.asyncProperty(
        fc.record({ sub: fc.string(), scope: fc.string(), extra: fc.jsonValue() }),
        fc.integer({ min: -3600, max: 3600 }),
        fc.boolean(),
        async (claims, expOffset, ownAudience) => {
          const token = issuer.sign({ ...claims, exp: now + expOffset, iat: now, aud: ownAudience ? issuer.audience : 'foreign' });
          const shouldPass = expOffset > 0 && ownAudience && !hasOwnProtoKey(claims);
          expect(await outcome(token)).toBe(shouldPass ? 'valid' : 'refused');
        },
      ),
      { numRuns: 500 },
    );
  });

  it('never fetches more than the cooldown allows, whatever the kids', async () => {
    const before = fetches;
    const now = Math.floor(clock.now() / 1000);
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 40 }), async (kid) => {
        await outcome(craft({ alg: 'RS256', kid }, { iss: issuer.issuer, aud: issuer.audience, exp: now + 300 }));
      }),
      { numRuns: 3000 },
    );
    // The clock is frozen: one cooldown window, so at most one unknown-kid refetch.
    expect(fetches - before).toBeLessThanOrEqual(1);
  });
});
