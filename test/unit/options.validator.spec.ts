import { JWKS_DEFAULTS, JwksOptionsError } from '../../lib';
import { resolveJwksOptions } from '../../lib/options/options.validator';

/** `[<hole>, value]`: a sparse array, as a stray comma in an options literal makes. */
function sparse(value: string): string[] {
  const values: string[] = [];
  values[1] = value;
  return values;
}

const base = { issuer: 'https://tenant.auth0.com/', jwksUri: 'https://tenant.auth0.com/.well-known/jwks.json', audience: 'https://api' };

describe('resolveJwksOptions', () => {
  it('applies every default', () => {
    const o = resolveJwksOptions(base);
    expect(o.algorithms).toEqual(['RS256']);
    expect(o.audience).toEqual(['https://api']);
    expect(o.cache).toEqual({
      ttlMs: JWKS_DEFAULTS.ttlMs,
      cooldownMs: JWKS_DEFAULTS.cooldownMs,
      maxStaleMs: JWKS_DEFAULTS.maxStaleMs,
      refreshAheadMs: JWKS_DEFAULTS.refreshAheadMs,
      minTtlMs: JWKS_DEFAULTS.minTtlMs,
      maxTtlMs: JWKS_DEFAULTS.maxTtlMs,
      backoffBaseMs: JWKS_DEFAULTS.backoffBaseMs,
      // capped at the cooldown, so a new key after an outage waits at most the cooldown
      backoffMaxMs: JWKS_DEFAULTS.cooldownMs,
      maxRetryAfterMs: JWKS_DEFAULTS.maxRetryAfterMs,
      maxWaiters: JWKS_DEFAULTS.maxWaiters,
      maxWaitMs: JWKS_DEFAULTS.maxWaitMs,
      snapshotPath: null,
    });
    expect(o.globalGuard).toBe(false);
    expect(o.warmupTimeoutMs).toBe(JWKS_DEFAULTS.warmupTimeoutMs);
    expect(o.unavailableStatus).toBe(503);
  });

  it('keeps the minTtlMs floor, the cooldown and the refresh-ahead under a low ttlMs the user set', () => {
    const o = resolveJwksOptions({ ...base, cache: { ttlMs: 5_000 } });
    expect(o.cache.minTtlMs).toBe(5_000);
    expect(o.cache.cooldownMs).toBe(2_500);
    expect(o.cache.refreshAheadMs).toBe(2_500);
    // a floor the user sets explicitly is theirs
    expect(resolveJwksOptions({ ...base, cache: { ttlMs: 5_000, minTtlMs: 60_000, cooldownMs: 1_000, refreshAheadMs: 1_000 } }).cache.minTtlMs).toBe(60_000);
  });

  it('applies verified-token cache byte budgets', () => {
    expect(resolveJwksOptions({ ...base, verifiedTokenCache: true }).verifiedTokenCache).toEqual({
      maxEntries: JWKS_DEFAULTS.verifiedTokenCacheMaxEntries,
      ttlMs: JWKS_DEFAULTS.verifiedTokenCacheTtlMs,
      maxBytes: JWKS_DEFAULTS.verifiedTokenCacheMaxBytes,
      maxEntryBytes: JWKS_DEFAULTS.verifiedTokenCacheMaxEntryBytes,
    });
  });

  it.each([
    [{ clockTolerance: 5 }, 'unknown option "clockTolerance" (did you mean "clockToleranceSec"?)'],
    [{ algorithm: 'RS256' }, 'unknown option "algorithm" (did you mean "algorithms"?)'],
    [{ cache: { ttl: 1000 } }, 'unknown option "cache.ttl" (did you mean "cache.ttlMs"?)'],
    [{ fetch: { timeout: 1000 } }, 'unknown option "fetch.timeout" (did you mean "fetch.timeoutMs"?)'],
    [{ verifiedTokenCache: { maxEntry: 5 } }, 'unknown option "verifiedTokenCache.maxEntry" (did you mean "verifiedTokenCache.maxEntries"?)'],
    [{ audiance: 'x' }, 'unknown option "audiance" (did you mean "audience"?)'],
    [{ secretOrKey: 'x' }, 'unknown option "secretOrKey"'],
  ])('refuses the unknown or misspelt option %j', (override, message) => {
    expect(() => resolveJwksOptions({ ...base, ...override } as never)).toThrow(message);
  });

  it.each([
    [{ fetch: { maxKeys: 2.5 } }, 'fetch.maxKeys must be a positive integer, got 2.5'],
    [{ verifiedTokenCache: { maxEntries: 10.5 } }, 'verifiedTokenCache.maxEntries must be a positive integer, got 10.5'],
    [{ cache: { maxWaiters: 1.5 } }, 'cache.maxWaiters must be a positive integer, got 1.5'],
    [{ cache: { ttlMs: '600' } }, 'cache.ttlMs must be a positive finite number (milliseconds), got "600"'],
    [{ cache: { cooldownMs: 60_000, ttlMs: 30_000 } }, 'cache.cooldownMs (60000) must be less than cache.ttlMs (30000)'],
    [{ cache: { refreshAheadMs: 600_000 } }, 'cache.refreshAheadMs (600000) must be less than cache.ttlMs (600000)'],
    [{ cache: { cooldownMs: 700_000 } }, 'cache.cooldownMs (700000) must be less than cache.ttlMs (600000)'],
    [{ cache: { backoffBaseMs: 10_000, backoffMaxMs: 5_000 } }, 'cache.backoffBaseMs (10000) must be at most cache.backoffMaxMs (5000)'],
    [{ verifiedTokenCache: { maxBytes: 1000, maxEntryBytes: 2000 } }, 'verifiedTokenCache.maxEntryBytes (2000) must be at most verifiedTokenCache.maxBytes (1000)'],
    [{ unavailableStatus: 500 }, 'unavailableStatus must be 401 or 503, got 500'],
    [{ warmupTimeoutMs: -1 }, 'warmupTimeoutMs must be a positive finite number (milliseconds), got -1'],
    [{ audience: 42 }, 'got 42'],
  ])('refuses %j, showing the offending value', (override, message) => {
    expect(() => resolveJwksOptions({ ...base, ...override } as never)).toThrow(message);
  });

  it('lists every problem in one error', () => {
    try {
      resolveJwksOptions({ ...base, clockTolerance: 5, cache: { ttl: 1 }, fetch: { maxKeys: 0.5 } } as never);
      throw new Error('not refused');
    } catch (err) {
      expect(err).toBeInstanceOf(JwksOptionsError);
      expect((err as JwksOptionsError).problems).toHaveLength(3);
    }
  });

  it.each([
    ['http://127.0.0.1:8080/jwks'],
    ['http://127.45.0.9/jwks'],
    ['http://localhost:3000/jwks'],
    ['http://[::1]:3000/jwks'],
    ['https://idp.example.com/jwks'],
  ])('accepts jwksUri %s', (jwksUri) => {
    expect(resolveJwksOptions({ ...base, jwksUri }).issuers[0].jwksUri).toBe(jwksUri);
  });

  it.each([
    [{ jwksUri: 'http://idp.example.com/jwks' }, /https/],
    [{ jwksUri: 'http://localhost.evil.com/jwks' }, /https/],
    [{ jwksUri: 'ftp://idp.example.com/jwks' }, /https/],
    [{ jwksUri: 'https://user:pw@idp.example.com/jwks' }, /credentials/],
    [{ jwksUri: 'not a url' }, /not a valid URL/],
    // Without jwksUri, the issuer is where discovery starts: it must then be a URL we may fetch.
    [{ jwksUri: undefined, issuer: 'my-tenant' }, /issuer \(no jwksUri given, so it is used for OIDC discovery\) is not a valid URL/],
    [{ jwksUri: undefined, issuer: 'http://idp.example.com/' }, /issuer \(no jwksUri given.*must use https/],
    [{ issuer: undefined }, /issuer \(or issuers, for several\) is required/],
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
    [{ cache: { minTtlMs: 10_000, maxTtlMs: 5_000 } }, /minTtlMs \(10000\) must be at most cache.maxTtlMs/],
    [{ cache: { snapshotPath: 42 } }, /snapshotPath/],
    [{ fetch: { timeoutMs: 0 } }, /fetch.timeoutMs/],
    [{ globalGuard: 'yes' }, /globalGuard must be a boolean/],
  ])('refuses %j', (override, message) => {
    const attempt = () => resolveJwksOptions({ ...base, ...override } as never);
    expect(attempt).toThrow(JwksOptionsError);
    expect(attempt).toThrow(message);
  });

  it.each([
    [{ fetch: { timeoutMs: 3e9 } }, "fetch.timeoutMs must be at most 2147483647 (Node's timer limit), got 3000000000"],
    [{ warmupTimeoutMs: 3e9 }, 'warmupTimeoutMs must be at most 2147483647'],
    [{ cache: { maxWaiters: 0 } }, 'cache.maxWaiters must be a positive integer, got 0'],
    [{ clockToleranceSec: 30_000 }, 'clockToleranceSec must be at most 3600 (seconds, not milliseconds'],
    [{ requiredClaims: sparse('sub') }, 'requiredClaims must be an array of claim names'],
    [{ audience: sparse('api') }, 'audience is required'],
    [{ issuer: ' https://tenant.auth0.com/ ' }, 'issuer has leading or trailing whitespace'],
    [{ strategyName: 'two words' }, 'strategyName must be a short name'],
    [{ strategyName: '' }, 'strategyName must be a short name'],
    [{ passportAliases: 'jwt' }, "passportAliases must be an array of at most 8 Passport names (e.g. ['jwt']), got \"jwt\""],
    [{ passportAliases: ['jwt', 'two words'] }, 'passportAliases[1] must be a short name'],
    [{ passportAliases: ['jwks'] }, 'passportAliases[0] is the strategyName "jwks" itself'],
    [{ passportAliases: ['jwt', 'jwt'] }, 'passportAliases[1] repeats "jwt"'],
    [{ passportAlias: ['jwt'] }, 'unknown option "passportAlias" (did you mean "passportAliases"?)'],
  ])('refuses %j, which would otherwise break the module at runtime', (override, message) => {
    expect(() => resolveJwksOptions({ ...base, ...override } as never)).toThrow(message);
  });

  it('keeps passportAliases, frozen, and defaults to none', () => {
    expect(resolveJwksOptions(base).passportAliases).toEqual([]);
    const resolved = resolveJwksOptions({ ...base, passportAliases: ['jwt', 'auth0'] });
    expect(resolved.passportAliases).toEqual(['jwt', 'auth0']);
    expect(Object.isFrozen(resolved.passportAliases)).toBe(true);
  });

  it('never prints URL credentials or query strings in its messages', () => {
    for (const jwksUri of ['http://user:s3cr3tpassw0rd@idp.example.com/jwks', 'ftp://idp.example.com/jwks?api_key=SECRETKEY123', 'not a url?token=SECRETKEY123']) {
      let message = '';
      try {
        resolveJwksOptions({ ...base, jwksUri });
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(/jwksUri/);
      expect(message).not.toMatch(/s3cr3t|SECRETKEY/);
    }
  });

  it('turns a throwing getter into the typed options error', () => {
    const hostile = { ...base, get cache(): never { throw new Error('boom'); } };
    expect(() => resolveJwksOptions(hostile as never)).toThrow(JwksOptionsError);
    expect(() => resolveJwksOptions(new Proxy(base, { ownKeys: () => { throw new TypeError('trap'); } }) as never)).toThrow(JwksOptionsError);
  });
});
