import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { Test } from '@nestjs/testing';
import { JWKS_FETCHER, JwksAuthModule, JwksCacheService, JwtVerifier, type JwksFetcher } from '../lib';
import { parseJwkSet, type KeyIndex } from '../lib/verify/jwk-set.parser';
import { VerifiedTokenCache } from '../lib/verify/verified-token.cache';
import type { TestIssuer } from '../lib/testing';

const gc = (): void => (globalThis as { gc?: () => void }).gc?.();
const heap = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

export interface MemoryFigures {
  bytesPerCachedKey: number;
  bytesPerVerifiedTokenEntry: number;
  /** What the cache's byte budget counts for the same entry (a conservative estimate). */
  estimatedBytesPerVerifiedTokenEntry: number;
  heapGrowthAfterMillionUnknownKidsBytes: number;
}

export async function measureMemory(issuer: TestIssuer, verifier: JwtVerifier, cache: JwksCacheService): Promise<MemoryFigures> {
  if (!(globalThis as { gc?: unknown }).gc) throw new Error('run the bench with node --expose-gc');

  // Parsed keys: 20 sets of 100 RSA-2048 keys (10 real key pairs, each under 10 kids; each parse makes its own KeyObjects).
  const pairs = Array.from({ length: 10 }, () => generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }));
  const text = JSON.stringify({ keys: Array.from({ length: 100 }, (_, i) => ({ ...pairs[i % 10], kid: `k-${i}`, alg: 'RS256', use: 'sig' })) });
  const held: KeyIndex[] = [];
  let before = heap();
  for (let i = 0; i < 20; i++) held.push(parseJwkSet(text, ['RS256'], 100));
  const bytesPerCachedKey = (heap() - before) / 2000;
  held.length = 0;

  // Verified-token entries with realistic access-token claims.
  // Every entry points at its key set; one owner object for all, as in a one-issuer app.
  const owner = { isKeyCurrent: () => true };
  const tokenCache = new VerifiedTokenCache({ maxEntries: 50_000, ttlMs: 3_600_000, maxBytes: 2 ** 40, maxEntryBytes: 2 ** 30 });
  const key = parseJwkSet(text, ['RS256'], 100).keys[0];
  const claimsJson = JSON.stringify({ iss: issuer.issuer, aud: issuer.audience, sub: 'auth0|64b7f0c1a2b3c4d5e6f70819', scope: 'read:profile write:profile', azp: 'abcdefghijklmnopqrstuvwxyz012345', iat: 1795000000, exp: 4102444800, permissions: ['read:profile', 'write:profile'] });
  const now = Date.now();
  before = heap();
  const payloadChars = Buffer.from(claimsJson).toString('base64url').length;
  for (let i = 0; i < 20_000; i++) tokenCache.set(`token-${i}-${randomUUID()}`, JSON.parse(claimsJson), payloadChars, key, owner, now, now + 3_600_000);
  const bytesPerVerifiedTokenEntry = (heap() - before) / 20_000;
  const estimatedBytesPerVerifiedTokenEntry = tokenCache.bytes / tokenCache.size;
  tokenCache.clear();

  // A million distinct unknown kids through the real verifier.
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const payload = b64({ iss: issuer.issuer, aud: issuer.audience, exp: Math.floor(Date.now() / 1000) + 3600 });
  const sig = Buffer.alloc(256, 3).toString('base64url');
  const run = async (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      try {
        await verifier.verifyOrDefer(`${b64({ alg: 'RS256', kid: `unknown-${i}` })}.${payload}.${sig}`);
      } catch {
        // refused, as expected
      }
    }
  };
  await run(0, 20_000);
  before = heap();
  await run(20_000, 1_020_000);
  const heapGrowthAfterMillionUnknownKidsBytes = heap() - before;
  void cache;
  return { bytesPerCachedKey, bytesPerVerifiedTokenEntry, estimatedBytesPerVerifiedTokenEntry, heapGrowthAfterMillionUnknownKidsBytes };
}

export interface IssuerMemoryFigures {
  /** Retained JS heap per issuer added at runtime, after gc. */
  bytesPerIssuer: number;
  issuersAdded: number;
  /** Keys in each added issuer's set (alternating). */
  keysPerSet: readonly number[];
}

/**
 * Heap per issuer: a module starts with one issuer, then `addIssuer()` adds `count` more, each
 * with its own RS256 set of 2 or 3 keys (unique kids, as an IdP publishes: kty, n, e, kid, alg,
 * use) served by a fake `JWKS_FETCHER`, so no socket or HTTP buffer is counted. What is retained
 * per issuer: its key set (source, policy state, parsed keys), its route, its refresh timer and
 * the default memory store's copy of its state.
 */
export async function measureIssuerMemory(count = 100): Promise<IssuerMemoryFigures> {
  if (!(globalThis as { gc?: unknown }).gc) throw new Error('run the bench with node --expose-gc');
  const host = (i: number) => `https://tenant-${i}.bench.example`;
  // Six real key pairs, each published under many kids: every parse still makes its own KeyObjects.
  const pairs = Array.from({ length: 6 }, () => generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }));
  const keysPerSet = [2, 3] as const;
  const fetcher: JwksFetcher = async ({ uri }) => {
    const i = Number(/tenant-(\d+)\./.exec(uri)![1]);
    const n = keysPerSet[i % keysPerSet.length];
    // A fresh string per fetch, as a response body would be.
    const jwks = JSON.stringify({ keys: Array.from({ length: n }, (_, k) => ({ ...pairs[(i + k) % pairs.length], kid: `tenant-${i}-key-${k}-${randomUUID()}`, alg: 'RS256', use: 'sig' })) });
    return { kind: 'ok', jwks, etag: null };
  };
  const silent = { log() {}, error() {}, warn() {}, debug() {}, verbose() {} };
  const ref = await Test.createTestingModule({
    imports: [JwksAuthModule.forRoot({ issuer: `${host(0)}/`, jwksUri: `${host(0)}/.well-known/jwks.json`, audience: 'https://api.example.test', maxIssuers: 2 * count + 1, strategyName: 'bench-issuer-memory' })],
  })
    .overrideProvider(JWKS_FETCHER)
    .useValue(fetcher)
    .setLogger(silent)
    .compile();
  await ref.init();
  const cache = ref.get(JwksCacheService);
  const add = async (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const state = await cache.addIssuer({ issuer: `${host(i)}/`, jwksUri: `${host(i)}/.well-known/jwks.json` });
      if (state.keyCount < 2) throw new Error(`issuer ${i} holds ${state.keyCount} keys`);
    }
  };
  // Warm-up: the first additions also compile code and shape objects; add and remove them before measuring.
  await add(1 + count, 1 + count + 50);
  for (let i = 1 + count; i < 1 + count + 50; i++) await cache.removeIssuer(`${host(i)}/`);
  const before = heap();
  await add(1, 1 + count);
  const bytesPerIssuer = (heap() - before) / count;
  if (cache.issuers().length !== 1 + count) throw new Error('issuers missing');
  await ref.close();
  return { bytesPerIssuer, issuersAdded: count, keysPerSet };
}
