/**
 * What it shows: a GraphQL operation is verified once, however many guarded fields it has. Each
 * guarded field is one guard call, and aliases multiply fields at no cost to the client: without
 * this, 3,000 aliased fields in one request cost 3,000 signature checks. The reuse is per
 * operation and per token, and ends the moment the verification stops holding (the token expired,
 * its key was revoked): it never stretches a token's life.
 */
import { jest } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { HTTP_PLATFORMS } from '../fixtures/app';
import { JwksAuthModule, JwksCacheService, JwtVerifier } from '../../lib';
import { FakeClock, TestIssuer } from '../../lib/testing';
import { bootGraphqlApp } from '../fixtures/transports/graphql-grants.resolver';

describe.each(HTTP_PLATFORMS)('one verification per GraphQL operation (%s)', (platform) => {
  let idp: TestIssuer;
  let app: INestApplication;
  let url: string;
  let verifications: ReturnType<typeof jest.spyOn>;
  const clock = new FakeClock(Date.UTC(2026, 0, 1));

  beforeAll(async () => {
    idp = await TestIssuer.start({ clock });
    ({ app, url } = await bootGraphqlApp([JwksAuthModule.forRoot({ issuer: idp.issuer, jwksUri: idp.jwksUri, audience: idp.audience })], { platform, clock }));
    verifications = jest.spyOn(app.get(JwtVerifier), 'verifyOrDefer');
  });
  afterAll(async () => {
    verifications?.mockRestore();
    await app?.close();
    await idp?.close();
  });
  beforeEach(() => verifications.mockClear());

  const aliased = (n: number, field = 'open') => `{ ${Array.from({ length: n }, (_, i) => `f${i}: ${field}`).join(' ')} }`;
  async function post(query: string, token?: string): Promise<{ data?: Record<string, unknown> | null; errors?: Array<{ extensions?: { code?: string } }> }> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query }) });
    return (await res.json()) as never;
  }

  it('verifies the token of a 500-field aliased query once, and answers every field', async () => {
    const body = await post(aliased(500), idp.sign({ sub: 'alice' }));
    expect(body.errors).toBeUndefined();
    expect(Object.values(body.data ?? {})).toEqual(Array(500).fill('alice'));
    expect(verifications).toHaveBeenCalledTimes(1);
  });

  it('verifies again for the next request: the reuse is per operation', async () => {
    const token = idp.sign({ sub: 'alice' });
    await post(aliased(3), token);
    await post(aliased(3), token);
    expect(verifications).toHaveBeenCalledTimes(2);
  });

  it('still refuses every field of a query whose token is refused, and never reuses a refusal as a pass', async () => {
    const body = await post(aliased(20), idp.sign({ sub: 'alice', exp: Math.floor(clock.now() / 1000) - 60 }));
    expect(body.errors).toHaveLength(20);
    expect(new Set(body.errors!.map((e) => e.extensions?.code))).toEqual(new Set(['UNAUTHENTICATED']));
  });

  it('stops reusing a verification once its key is revoked or the token expired', async () => {
    const verifier = app.get(JwtVerifier);
    const token = idp.sign({ sub: 'alice', exp: Math.floor(clock.now() / 1000) + 120 });
    const verified = await verifier.verifyWithKey(token);
    expect(verifier.stillValid(verified)).toBe(true);
    clock.advance(121_000);
    expect(verifier.stillValid(verified)).toBe(false);
    clock.advance(-121_000);
    expect(verifier.stillValid(verified)).toBe(true);
    app.get(JwksCacheService).revokeKey(idp.kid);
    try {
      expect(verifier.stillValid(verified)).toBe(false);
    } finally {
      app.get(JwksCacheService).restoreKey(idp.kid);
    }
  });
});
