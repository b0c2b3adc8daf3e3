import { generateKeyPairSync, sign, verify as cryptoVerify, type JsonWebKey } from 'node:crypto';
import { JwksCacheService, JwtVerifier, SignatureInvalidError } from '../lib';
import { JWKS_DEFAULTS, JWKS_LIMITS } from '../lib/jwks-auth.constants';
import { systemClock } from '../lib/cache/clock';
import { resolveJwksOptions } from '../lib/options/options.validator';
import type { JwksFetcher } from '../lib/fetch/jwks.fetcher';

/** The cost of one junk token against the worst key set the module still accepts, for one algorithm. */
export interface WorstCase {
  name: string;
  /** What the hostile set holds, and what the module kept of it. */
  set: string;
  junkUs: number;
  /** One normal verify of the same algorithm with a typical key: raw `crypto.verify`. */
  normalUs: number;
}

const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const ISSUER = 'https://issuer.example.test/';
const AUDIENCE = 'https://api.example.test';

/**
 * The heaviest payload a token may carry: valid claims (they are checked before any key lookup),
 * then as many empty objects as `maxTokenBytes` allows (the most JSON.parse work per byte, and
 * enough brackets to force the nesting scan), and a `\u005f` escape that forces the `__proto__` walk.
 */
function heaviestPayload(headerB64: string, signatureChars: number): string {
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const base = JSON.stringify({ iss: ISSUER, aud: AUDIENCE, sub: 'mallory', exp, note: '\\u005f', pad: [] });
  // base64url: 4 characters per 3 bytes; leave room for the dots.
  const room = Math.floor(((JWKS_DEFAULTS.maxTokenBytes - headerB64.length - signatureChars - 2) * 3) / 4) - base.length;
  const objects = Math.floor((room + 1) / 3);
  return b64(base.replace('"pad":[]', `"pad":[${Array(objects).fill('{}').join(',')}]`));
}

function timeEach(fn: () => void, seconds: number): number {
  const run = (ms: number) => {
    let n = 0;
    const start = performance.now();
    const deadline = start + ms;
    while (performance.now() < deadline) {
      for (let k = 0; k < 8; k++) fn();
      n += 8;
    }
    return ((performance.now() - start) * 1000) / n;
  };
  run(Math.max(200, seconds * 250));
  return run(seconds * 1000);
}

async function junkCost(
  name: string,
  alg: string,
  hostileKeys: JsonWebKey[],
  signatureBytes: Buffer,
  normal: () => boolean,
  seconds: number,
): Promise<WorstCase> {
  const options = resolveJwksOptions({ issuer: ISSUER, jwksUri: 'https://issuer.example.test/jwks.json', audience: AUDIENCE, algorithms: [alg] });
  const jwks = JSON.stringify({ keys: hostileKeys.map((k) => ({ ...k, kid: 'worst' })) });
  const fetcher: JwksFetcher = async () => ({ kind: 'ok', jwks, etag: null });
  const cache = new JwksCacheService(options, systemClock, fetcher);
  await cache.onApplicationBootstrap();
  const state = cache.getState();
  const verifier = new JwtVerifier(options, cache.registry, systemClock);
  const header = b64({ alg, kid: 'worst' });
  const signature = signatureBytes.toString('base64url');
  const token = `${header}.${heaviestPayload(header, signature.length)}.${signature}`;
  if (token.length > JWKS_DEFAULTS.maxTokenBytes) throw new Error(`${name}: junk token of ${token.length} bytes is over the limit`);
  const junk = () => {
    try {
      verifier.verifyOrDefer(token);
    } catch (err) {
      if (err instanceof SignatureInvalidError) return;
      throw err;
    }
    throw new Error(`${name}: the junk token verified`);
  };
  junk(); // fails loudly if the token is refused for another reason than its signature
  const junkUs = timeEach(junk, seconds);
  const normalUs = timeEach(() => {
    if (!normal()) throw new Error(`${name}: the normal signature did not verify`);
  }, seconds);
  await cache.onApplicationShutdown();
  return { name, set: `${hostileKeys.length} keys under one kid, ${state.keyCount} kept`, junkUs, normalUs };
}

/**
 * The most CPU one token can cost after the caps of `JWKS_LIMITS`: a junk token (valid claims,
 * the kid of the set, a well-formed signature that does not verify, the heaviest payload the size
 * limit allows) against a set of `maxKeys` keys sharing that kid, each as costly as accepted.
 */
export async function measureWorstCases(seconds: number): Promise<WorstCase[]> {
  const data = Buffer.from('a typical signing input');
  const results: WorstCase[] = [];

  // RS256 (the default): the largest accepted modulus and exponent.
  const big = generateKeyPairSync('rsa', { modulusLength: JWKS_LIMITS.maxRsaModulusBits, publicExponent: JWKS_LIMITS.maxRsaPublicExponent });
  const bigJwk = big.publicKey.export({ format: 'jwk' });
  const typical = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const typicalSig = sign('sha256', data, typical.privateKey);
  // A value below the modulus, so OpenSSL does the whole exponentiation before refusing it.
  const rsaJunk = Buffer.alloc(JWKS_LIMITS.maxRsaModulusBits / 8, 0x07);
  results.push(
    await junkCost(
      `RS256, RSA-${JWKS_LIMITS.maxRsaModulusBits} e=${JWKS_LIMITS.maxRsaPublicExponent}`,
      'RS256',
      Array(JWKS_DEFAULTS.maxKeys).fill(bigJwk),
      rsaJunk,
      () => cryptoVerify('sha256', data, typical.publicKey, typicalSig),
      seconds,
    ),
  );

  // ES512 (when configured): P-521 is the slowest curve; r and s in range, so the check runs in full.
  const p521 = generateKeyPairSync('ec', { namedCurve: 'P-521' });
  const other = generateKeyPairSync('ec', { namedCurve: 'P-521' });
  const ecJunk = sign('sha512', Buffer.from('something else'), { key: other.privateKey, dsaEncoding: 'ieee-p1363' });
  const ecSig = sign('sha512', data, { key: p521.privateKey, dsaEncoding: 'ieee-p1363' });
  results.push(
    await junkCost(
      'ES512, P-521 (only when configured)',
      'ES512',
      Array(JWKS_DEFAULTS.maxKeys).fill(p521.publicKey.export({ format: 'jwk' })),
      ecJunk,
      () => cryptoVerify('sha512', data, { key: p521.publicKey, dsaEncoding: 'ieee-p1363' }, ecSig),
      seconds,
    ),
  );
  return results;
}
