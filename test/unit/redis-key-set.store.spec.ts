import { initialKeySetState } from '../../lib/cache/key-set.state';
import { JwksMissingDependencyError } from '../../lib/errors/jwks.errors';
import { checkKeySetState } from '../../lib/store/key-set-state.validator';
import { loadIoredis, RedisKeySetStore } from '../../lib/store/redis-key-set.store';

const GOOD = { ...initialKeySetState(), jwks: '{"keys":[{"kty":"RSA"}]}', fetchedAt: 1_000, freshUntil: 2_000, etag: '"e"' };
const LIMITS = { maxKeys: 100, maxRevokedKids: 1_000 };

describe('RedisKeySetStore without ioredis', () => {
  it('names the package and the install command', async () => {
    const failing = loadIoredis(() => Promise.reject(new Error('Cannot find package ioredis')));
    await expect(failing).rejects.toBeInstanceOf(JwksMissingDependencyError);
    await expect(failing).rejects.toMatchObject({
      code: 'ERR_JWKS_MISSING_DEPENDENCY',
      message: 'RedisKeySetStore needs the optional package "ioredis": npm install ioredis',
    });
  });

  it('is not constructed without a redis location', () => {
    expect(() => new RedisKeySetStore({} as never)).toThrow(/redis \(a URL, ioredis options or an ioredis client\) is required/);
  });
});

describe('RedisKeySetStore keys', () => {
  const store = new RedisKeySetStore({ redis: 'redis://127.0.0.1:1' });

  it('keeps a readable prefix and host, and hashes issuer and JWKS URI', () => {
    const keys = store.keysOf({ issuer: 'https://IdP.example.com/realms/a', jwksUri: 'https://idp.example.com/jwks' });
    expect(keys.state).toMatch(/^jwks-auth:idp\.example\.com:[0-9a-f]{32}:state$/);
    expect(keys.lease).toBe(keys.state.replace(/:state$/, ':lease'));
    expect(keys.channel).toBe(keys.state.replace(/:state$/, ':changed'));
  });

  it('gives two tenants on one host, or one issuer at two locations, different keys', () => {
    const a = store.keysOf({ issuer: 'https://idp.example.com/a', jwksUri: null });
    const b = store.keysOf({ issuer: 'https://idp.example.com/b', jwksUri: null });
    const c = store.keysOf({ issuer: 'https://idp.example.com/a', jwksUri: 'https://idp.example.com/a/jwks' });
    expect(new Set([a.state, b.state, c.state]).size).toBe(3);
  });

  it('keeps a key short whatever the issuer holds', () => {
    const keys = store.keysOf({ issuer: `https://${'x'.repeat(200)}.example/${'\r\n*'.repeat(10_000)}`, jwksUri: null });
    expect(keys.state.length).toBeLessThan(130);
    expect(keys.state).toMatch(/^jwks-auth:[a-z0-9._-]+:[0-9a-f]{32}:state$/);
    expect(store.keysOf({ issuer: 'not a url', jwksUri: null }).state).toMatch(/^jwks-auth:issuer:/);
  });

  it('uses the given prefix', () => {
    expect(new RedisKeySetStore({ redis: 'redis://127.0.0.1:1', keyPrefix: 'staging:' }).keysOf({ issuer: 'https://a.test', jwksUri: null }).state).toMatch(/^staging:a\.test:/);
  });
});

describe('checkKeySetState', () => {
  it('takes a state the source writes, copying only its members', () => {
    const checked = checkKeySetState({ ...GOOD, revokedKids: ['k1'], lastError: { code: 'E', kind: 'status', message: 'm', status: 503, at: 5 }, extra: 'x' }, LIMITS);
    expect(checked).toEqual({ ok: true, state: { ...GOOD, revokedKids: ['k1'], lastError: { code: 'E', kind: 'status', message: 'm', status: 503, at: 5 } } });
  });

  it.each([
    ['not-an-object', []],
    ['bad-jwks', { ...GOOD, jwks: 'not json' }],
    ['bad-jwks', { ...GOOD, jwks: '{"nokeys":[]}' }],
    ['bad-jwks', { ...GOOD, jwks: '{"keys":[1]}' }],
    ['bad-jwks', { ...GOOD, jwks: JSON.stringify({ keys: Array.from({ length: 101 }, () => ({})) }) }],
    ['bad-jwks', { ...GOOD, fetchedAt: null }],
    ['bad-time', { ...GOOD, fetchedAt: -1 }],
    ['bad-time', { ...GOOD, freshUntil: Number.NaN }],
    ['bad-time', { ...GOOD, notBefore: Infinity }],
    ['bad-time', { ...GOOD, lastAttemptAt: '1' }],
    ['bad-counter', { ...GOOD, failures: 1.5 }],
    ['bad-counter', { ...GOOD, mustRevalidate: 'yes' }],
    ['bad-etag', { ...GOOD, etag: '"a"\r\nx-injected: 1' }],
    ['bad-revoked-kids', { ...GOOD, revokedKids: [42] }],
    ['bad-revoked-kids', { ...GOOD, revokedKids: ['has space'] }],
    ['bad-revoked-kids', { ...GOOD, revokedKids: 'k1' }],
    ['bad-last-error', { ...GOOD, lastError: { code: 'E' } }],
  ])('refuses %s', (reason, doc) => {
    expect(checkKeySetState(doc, LIMITS)).toEqual({ ok: false, reason });
  });
});
