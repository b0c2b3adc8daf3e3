import { JWKS_DEFAULTS } from '../../lib';
import { FakeClock } from '../../lib/testing';
import { b64, claimsAt, makeVerifier, signSegments, signingKey } from './verifier.harness';

const gc = (globalThis as { gc?: () => void }).gc;
const heap = (): number => {
  if (!gc) throw new Error('run with NODE_OPTIONS=--expose-gc (npm test does)');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

const MiB = 1024 * 1024;
// EdDSA signs and verifies fast, so 10,000 distinct tokens take a second, not a minute.
const key = signingKey('EdDSA');
const header = b64({ alg: 'EdDSA', kid: 'k1' });

type Shape = 'objects' | 'arrays' | 'members' | 'unique keys' | 'unique shapes' | 'numbers' | 'unique strings' | 'two-byte strings';
const ROOM = Math.floor(((JWKS_DEFAULTS.maxTokenBytes - 200) * 3) / 4) - 200;
const repeated = (n: number, item: string) => `[${Array(n).fill(item).join(',')}]`;
const fixedFills: Partial<Record<Shape, string>> = {
  objects: repeated(Math.floor(ROOM / 3), '{}'),
  arrays: repeated(Math.floor(ROOM / 3), '[]'),
  members: `{${Array.from({ length: Math.floor(ROOM / 8) }, (_, k) => `"${k.toString(36)}":0`).join(',')}}`,
  numbers: repeated(Math.floor(ROOM / 4), '0.5'),
};
/** Fillers whose keys or strings differ from token to token, so V8 cannot share them. */
const uniqueFills: Partial<Record<Shape, (t: string) => string>> = {
  'unique keys': (t) => `{${Array.from({ length: Math.floor(ROOM / 12) }, (_, k) => `"${t}${k.toString(36)}":0`).join(',')}}`,
  'unique shapes': (t) => `[${Array.from({ length: Math.floor(ROOM / 14) }, (_, k) => `{"${t}${k.toString(36)}":0}`).join(',')}]`,
  'unique strings': (t) => `[${Array.from({ length: Math.floor(ROOM / 10) }, (_, k) => `"${t}${k.toString(36)}"`).join(',')}]`,
  'two-byte strings': (t) => `[${Array.from({ length: Math.floor(ROOM / 40) }, (_, k) => `"日本語${t}${k.toString(36)}"`).join(',')}]`,
};

/** An IdP-signed token built to be heap-heavy: as much of one shape as fits in `maxTokenBytes`. */
function heavyPayload(clock: FakeClock, i: number, shape: Shape = 'objects'): string {
  const fill = fixedFills[shape] ?? uniqueFills[shape]!(i.toString(36).replace('-', 'm'));
  return JSON.stringify(claimsAt(clock, { jti: `t-${i}` })).replace(/}$/, `,"pad":${fill}}`);
}
const heavyToken = (clock: FakeClock, i: number, shape?: Shape) => signSegments(header, b64(heavyPayload(clock, i, shape)), key);

async function verifyMany(verify: (t: string) => Promise<unknown>, make: (i: number) => string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await verify(make(i));
}

describe('verified-token cache: bounded in bytes', () => {
  it('heavy tokens are within the token size limit and verify', async () => {
    const { verifier, clock } = makeVerifier([key.jwk], { algorithms: ['EdDSA'], verifiedTokenCache: true });
    const token = heavyToken(clock, 0);
    expect(token.length).toBeLessThanOrEqual(JWKS_DEFAULTS.maxTokenBytes);
    expect(token.length).toBeGreaterThan(JWKS_DEFAULTS.maxTokenBytes - 400);
    expect(((await verifier.verify(token)).pad as unknown[]).length).toBeGreaterThan(1_800);
  });

  it('with the defaults, 10,000 heavy tokens leave the heap under the byte budget (they are not cached)', async () => {
    const { verifier, clock } = makeVerifier([key.jwk], { algorithms: ['EdDSA'], verifiedTokenCache: true });
    await verifyMany((t) => verifier.verify(t), (i) => heavyToken(clock, -1 - i), 100); // warm-up
    const before = heap();
    await verifyMany((t) => verifier.verify(t), (i) => heavyToken(clock, i), 10_000);
    const growth = heap() - before;
    console.log(`heap growth after 10,000 heavy tokens, default cache: ${(growth / MiB).toFixed(1)} MiB, ${verifier.verifiedTokenCacheStats().size} cached`);
    expect(growth).toBeLessThan(JWKS_DEFAULTS.verifiedTokenCacheMaxBytes);
    expect(verifier.verifiedTokenCacheStats().bytes).toBeLessThanOrEqual(JWKS_DEFAULTS.verifiedTokenCacheMaxBytes);
  }, 60_000);

  it('when heavy entries are allowed, 3,000 of them (some 70 times the budget) still stay within maxBytes (oldest evicted)', async () => {
    const maxBytes = 8 * MiB;
    const { verifier, clock } = makeVerifier([key.jwk], { algorithms: ['EdDSA'], verifiedTokenCache: { maxBytes, maxEntryBytes: 4 * MiB } });
    const before = heap();
    await verifyMany((t) => verifier.verify(t), (i) => heavyToken(clock, i), 3_000);
    const growth = heap() - before;
    const stats = verifier.verifiedTokenCacheStats();
    console.log(`heap growth after 3,000 heavy tokens, maxBytes 8 MiB: ${(growth / MiB).toFixed(1)} MiB, ${stats.size} cached, ${(stats.bytes / MiB).toFixed(1)} MiB estimated`);
    expect(stats.size).toBeGreaterThan(0);
    expect(stats.size).toBeLessThan(100);
    expect(stats.bytes).toBeLessThanOrEqual(maxBytes);
    expect(growth).toBeLessThan(maxBytes);
  }, 60_000);

  it.each<Shape>(['objects', 'arrays', 'members', 'unique keys', 'unique shapes', 'numbers', 'unique strings', 'two-byte strings'])('the per-entry estimate is at least the real heap cost (heavy %s)', async (shape) => {
    const { verifier, clock } = makeVerifier([key.jwk], { algorithms: ['EdDSA'], verifiedTokenCache: { maxEntries: 100_000, maxBytes: 2 ** 40, maxEntryBytes: 2 ** 30 } });
    await verifyMany((t) => verifier.verify(t), (i) => heavyToken(clock, -1 - i, shape), 50);
    const tokens = Array.from({ length: 500 }, (_, i) => heavyToken(clock, i, shape));
    expect(tokens[0].length).toBeLessThanOrEqual(JWKS_DEFAULTS.maxTokenBytes);
    const sizeBefore = verifier.verifiedTokenCacheStats();
    const before = heap();
    for (const t of tokens) await verifier.verify(t);
    const growth = heap() - before;
    const after = verifier.verifiedTokenCacheStats();
    const estimated = (after.bytes - sizeBefore.bytes) / (after.size - sizeBefore.size);
    const real = growth / 500;
    console.log(`heavy ${shape}: real ${real.toFixed(0)} B/entry, estimated ${estimated.toFixed(0)} B/entry`);
    expect(after.size - sizeBefore.size).toBe(500);
    expect(estimated).toBeGreaterThanOrEqual(real);
  }, 60_000);

  it('typical access tokens are cached, estimated at a few KiB (real: under 1 KiB)', async () => {
    const { verifier, clock } = makeVerifier([key.jwk], { algorithms: ['EdDSA'], verifiedTokenCache: true });
    const typical = (i: number) =>
      signSegments(
        header,
        b64(claimsAt(clock, { jti: `t-${i}`, sub: `auth0|64b7f0c1a2b3c4d5e6f7${i}`, scope: 'read:profile write:profile', azp: 'abcdefghijklmnopqrstuvwxyz012345', permissions: ['read:profile', 'write:profile'] })),
        key,
      );
    await verifyMany((t) => verifier.verify(t), typical, 1_000);
    const stats = verifier.verifiedTokenCacheStats();
    expect(stats.size).toBe(1_000);
    expect(stats.bytes / stats.size).toBeGreaterThan(600);
    // 32 MiB at this estimate still holds more than the default 10,000 entries.
    expect(stats.bytes / stats.size).toBeLessThan(JWKS_DEFAULTS.verifiedTokenCacheMaxBytes / JWKS_DEFAULTS.verifiedTokenCacheMaxEntries);
  });
});
