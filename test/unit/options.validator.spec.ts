import { JWKS_DEFAULTS, JwksOptionsError } from '../../lib';
import { resolveJwksOptions } from '../../lib/options/options.validator';

const base = { issuer: 'https://tenant.auth0.com/', jwksUri: 'https://tenant.auth0.com/.well-known/jwks.json', audience: 'https://api' };

describe('resolveJwksOptions', () => {
  it('applies every default', () => {
    const o = resolveJwksOptions(base);
    expect(o.algorithms).toEqual(['RS256']);
    expect(o.audience).toEqual(['https://api']);
    expect(o.cache).toEqual({ ttlMs: JWKS_DEFAULTS.ttlMs, cooldownMs: JWKS_DEFAULTS.cooldownMs, maxStaleMs: JWKS_DEFAULTS.maxStaleMs, refreshAheadMs: JWKS_DEFAULTS.refreshAheadMs, minTtlMs: JWKS_DEFAULTS.minTtlMs, maxTtlMs: JWKS_DEFAULTS.maxTtlMs, snapshotPath: null });
    expect(o.globalGuard).toBe(false);
  });

  it.each([
    ['http://127.0.0.1:8080/jwks'],
    ['http://127.45.0.9/jwks'],
    ['http://localhost:3000/jwks'],
    ['http://[::1]:3000/jwks'],
    ['https://idp.example.com/jwks'],
  ])('accepts jwksUri %s', (jwksUri) => {
    expect(resolveJwksOptions({ ...base, jwksUri }).jwksUri).toBe(jwksUri);
  });

  it.each([
    [{ jwksUri: 'http://idp.example.com/jwks' }, /https/],
    [{ jwksUri: 'http://localhost.evil.com/jwks' }, /https/],
    [{ jwksUri: 'ftp://idp.example.com/jwks' }, /https/],
    [{ jwksUri: 'https://user:pw@idp.example.com/jwks' }, /credentials/],
    [{ jwksUri: 'not a url' }, /not a valid URL/],
    [{ jwksUri: undefined }, /jwksUri is required/],
    [{ issuer: undefined }, /issuer is required/],
    [{ audience: [] }, /audience is required/],
    [{ audience: ['ok', 3] }, /audience is required/],
    [{ algorithms: ['HS256'] }, /HS256.*refused/],
    [{ algorithms: ['none'] }, /none.*refused/],
    [{ algorithms: ['RS1'] }, /not supported/],
    [{ algorithms: [] }, /non-empty/],
    [{ cache: { ttlMs: -1 } }, /cache.ttlMs/],
    [{ cache: { cooldownMs: Number.NaN } }, /cache.cooldownMs/],
    [{ cache: 'x' }, /cache must be an object/],
    [{ clockToleranceSec: -5 }, /clockToleranceSec/],
    [{ cache: { minTtlMs: 10_000, maxTtlMs: 5_000 } }, /minTtlMs must not exceed/],
    [{ cache: { snapshotPath: 42 } }, /snapshotPath/],
    [{ fetch: { timeoutMs: 0 } }, /fetch.timeoutMs/],
    [{ globalGuard: 'yes' }, /globalGuard must be a boolean/],
  ])('refuses %j', (override, message) => {
    const attempt = () => resolveJwksOptions({ ...base, ...override } as never);
    expect(attempt).toThrow(JwksOptionsError);
    expect(attempt).toThrow(message);
  });
});
