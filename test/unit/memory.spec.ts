import { randomUUID } from 'node:crypto';
import { JwksCacheService } from '../../lib';
import { resolveJwksOptions } from '../../lib/options/options.validator';
import { JwtVerifier } from '../../lib/verify/jwt.verifier';
import type { JwksFetcher } from '../../lib/fetch/jwks.fetcher';
import { FakeClock, TestIssuer } from '../../lib/testing';
import { b64 } from '../fixtures/craft';

const gc = (globalThis as { gc?: () => void }).gc;

describe('bounded memory', () => {
  it('one million distinct unknown kids leave heap growth under a few MB', async () => {
    if (!gc) throw new Error('run with NODE_OPTIONS=--expose-gc (npm test does)');
    const issuer = await TestIssuer.start();
    const clock = new FakeClock();
    const options = resolveJwksOptions({ issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: issuer.audience });
    let fetches = 0;
    const fetcher: JwksFetcher = async () => {
      fetches++;
      return { kind: 'ok', jwks: JSON.stringify(issuer.jwks()), etag: null };
    };
    const cache = new JwksCacheService(options, clock, fetcher);
    await cache.onApplicationBootstrap();
    const verifier = new JwtVerifier(options, cache.registry, clock);
    const payload = b64({ iss: issuer.issuer, aud: issuer.audience, exp: Math.floor(clock.now() / 1000) + 3600 });
    const signature = Buffer.alloc(256, 3).toString('base64url');
    const prefix = randomUUID().slice(0, 8);
    const run = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        await verifier.verify(`${b64({ alg: 'RS256', kid: `${prefix}-${i}` })}.${payload}.${signature}`).catch(() => undefined);
      }
    };
    await run(0, 20_000); // warm up: JIT, the one refetch of this cooldown window
    gc();
    const before = process.memoryUsage().heapUsed;
    await run(20_000, 1_000_000);
    gc();
    const growth = process.memoryUsage().heapUsed - before;
    console.log(`heap growth over 980,000 unknown kids: ${(growth / 1024).toFixed(0)} KiB`);
    expect(growth).toBeLessThan(4 * 1024 * 1024);
    expect(fetches).toBeLessThanOrEqual(2); // the warm-up and one unknown-kid refetch
    expect(verifier.refusalCounts()).toMatchObject({ ERR_JWKS_COOLDOWN: expect.any(Number) });
    await cache.onApplicationShutdown();
    await issuer.close();
  }, 120_000);
});
