import { generateKeyPairSync } from 'node:crypto';
import { JwksOptionsError } from '../../../lib';
import { resolveClientCredentialsOptions, type ClientCredentialsOptions } from '../../../lib/client-credentials/client-credentials.options';

const SECRET = 'super-secret-client-value';
const BASE = { tokenEndpoint: 'https://tenant.auth0.com/oauth/token', clientId: 'abc', clientSecret: SECRET };
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const PEM = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

function problems(extra: Record<string, unknown>, base: Record<string, unknown> = BASE): string[] {
  try {
    resolveClientCredentialsOptions({ ...base, ...extra } as unknown as ClientCredentialsOptions);
  } catch (err) {
    expect(err).toBeInstanceOf(JwksOptionsError);
    const list = (err as JwksOptionsError).problems;
    // No problem ever shows the secret or the key.
    for (const p of list) {
      expect(p).not.toContain(SECRET);
      expect(p).not.toContain('PRIVATE KEY');
    }
    return list;
  }
  throw new Error('the options were accepted');
}

describe('ClientCredentialsModule options', () => {
  it('takes fleet as a Redis URL, options or client with an optional prefix', () => {
    expect(resolveClientCredentialsOptions({ ...BASE, fleet: { redis: 'rediss://:pw@redis.internal:6380/2' } }).fleet).toEqual({ redis: 'rediss://:pw@redis.internal:6380/2', keyPrefix: 'jwks-auth:' });
    expect(resolveClientCredentialsOptions({ ...BASE, fleet: { redis: { host: '10.0.0.5', port: 6379 }, keyPrefix: 'svc-a:' } }).fleet).toEqual({ redis: { host: '10.0.0.5', port: 6379 }, keyPrefix: 'svc-a:' });
    expect(resolveClientCredentialsOptions(BASE).fleet).toBeNull();
  });

  it('accepts a secret (client_secret_post by default) and a key (private_key_jwt by default)', () => {
    expect(resolveClientCredentialsOptions(BASE).service.authenticator.method).toBe('client_secret_post');
    const withKey = resolveClientCredentialsOptions({ tokenEndpoint: BASE.tokenEndpoint, clientId: 'abc', privateKey: PEM });
    expect(withKey.service.authenticator.method).toBe('private_key_jwt');
    expect(resolveClientCredentialsOptions({ ...BASE, tokenEndpoint: 'http://127.0.0.1:8080/oauth/token', scope: 'b a b' }).service.scope).toBe('a b');
  });

  it.each<[string, Record<string, unknown>, RegExp, Record<string, unknown>?]>([
    ['an unknown option, with a suggestion', { clientSecert: 'x' }, /unknown option "clientSecert" \(did you mean "clientSecret"\?\)/],
    ['neither tokenEndpoint nor issuer', { tokenEndpoint: undefined }, /exactly one of tokenEndpoint and issuer/],
    ['both tokenEndpoint and issuer', { issuer: 'https://tenant.auth0.com/' }, /exactly one of tokenEndpoint and issuer/],
    ['an http: token endpoint off loopback', { tokenEndpoint: 'http://tenant.auth0.com/oauth/token' }, /must use https:/],
    ['credentials in the endpoint', { tokenEndpoint: 'https://u:p@tenant.auth0.com/oauth/token' }, /must not contain credentials/],
    ['a non-string endpoint', { tokenEndpoint: 42 }, /tokenEndpoint must be a URL string/],
    ['no clientId', { clientId: undefined }, /clientId must be a non-empty string/],
    ['both clientSecret and privateKey', { privateKey: PEM }, /exactly one of clientSecret and privateKey/],
    ['neither clientSecret nor privateKey', { clientSecret: undefined }, /exactly one of clientSecret and privateKey/],
    ['a non-string secret (its value never shown)', { clientSecret: { v: SECRET } }, /clientSecret must be a non-empty string \(got an object\)/],
    ['private_key_jwt with a secret', { clientAuthentication: 'private_key_jwt' }, /private_key_jwt needs privateKey/],
    ['client_secret_basic with a key', { clientSecret: undefined, privateKey: PEM, clientAuthentication: 'client_secret_basic' }, /needs clientSecret/],
    ['an unknown authentication method', { clientAuthentication: 'tls_client_auth' }, /clientAuthentication must be one of/],
    ['a key that does not parse (never echoed)', { clientSecret: undefined, privateKey: `-----BEGIN PRIVATE KEY-----\n${SECRET}\n-----END PRIVATE KEY-----` }, /could not be read/],
    ['an algorithm that does not fit the key', { clientSecret: undefined, privateKey: ec.privateKey, signingAlgorithm: 'RS256' }, /RS256 does not fit the ec privateKey/],
    ['an unknown algorithm', { clientSecret: undefined, privateKey: PEM, signingAlgorithm: 'HS256' }, /signingAlgorithm must be one of/],
    ['a public key as privateKey', { clientSecret: undefined, privateKey: rsa.publicKey }, /a private key is needed/],
    ['privateKeyId without a key', { privateKeyId: 'k1' }, /are for privateKey/],
    ['refreshMarginMs out of range', { refreshMarginMs: 2 * 60 * 60_000 }, /refreshMarginMs must be an integer from 0 to 3600000/],
    ['fleet that is not an object', { fleet: 'redis://127.0.0.1:6379' }, /fleet must be \{ redis/],
    ['fleet without redis', { fleet: {} }, /fleet needs redis: \{ redis/],
    ['fleet with a misspelt member', { fleet: { redis: 'redis://127.0.0.1:6379', keyprefix: 'a:' } }, /unknown option "fleet.keyprefix" \(did you mean "fleet.keyPrefix"\?\)/],
    ['fleet with a non-redis URL, its password masked', { fleet: { redis: 'http://user:hunter2-pass@redis.internal:6379' } }, /fleet.redis must be a redis:\/\/ or rediss:\/\/ URL, got "http:\/\/\*\*\*@redis.internal:6379"/],
    ['fleet and store together', { fleet: { redis: 'redis://127.0.0.1:6379' }, store: { read: () => null, write: () => undefined } }, /store and fleet both say where tokens are kept/],
    ['a negative refreshMarginMs', { refreshMarginMs: -1 }, /refreshMarginMs must be an integer/],
    ['a timeoutMs that is not a number', { timeoutMs: '5s' }, /timeoutMs must be an integer/],
    ['a scope with a quote', { scope: 'read"users' }, /scope must be space-separated scope tokens/],
    ['an empty audience', { audience: '' }, /audience must be a non-empty string/],
    ['a short encryptionKey', { encryptionKey: 'abc' }, /encryptionKey must be 32 bytes/],
    ['a store without read/write', { store: { get: () => null } }, /store must have read\(\) and write\(\)/],
    ['metrics that are not a registry', { metrics: 'yes' }, /metrics must be true, \{ registry: a prom-client Registry \}, \{ otel: true \} or \{ registry, otel: true \}/],
  ])('refuses %s', (_name, extra, expected) => {
    expect(problems(extra).join('\n')).toMatch(expected);
  });

  it('lists every problem at once', () => {
    expect(problems({ clientId: '', timeoutMs: 0, tokenEndpoint: 'ftp://x' })).toHaveLength(3);
  });
});
