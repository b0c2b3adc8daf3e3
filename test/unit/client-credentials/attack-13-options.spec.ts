import { generateKeyPairSync } from 'node:crypto';
import { resolveJwksOptions } from '../../../lib/options/options.validator';
import { resolveClientCredentialsOptions, type ClientCredentialsOptions } from '../../../lib/client-credentials/client-credentials.options';

const base = { tokenEndpoint: 'https://tenant.example.test/oauth/token', clientId: 'm2m', clientSecret: 'the-client-secret-value' };

/** The message of the options error `input` raises. */
function problemsOf(input: Record<string, unknown>): string {
  try {
    resolveClientCredentialsOptions(input as unknown as ClientCredentialsOptions);
  } catch (err) {
    return `${(err as Error).message}\n${JSON.stringify(err)}`;
  }
  throw new Error('expected the options to be refused');
}

describe('attack 13: client-credentials option errors hold no secret', () => {
  it('fleet given as a Redis URL string (fleet: process.env.REDIS_URL) is refused without its password', () => {
    const text = problemsOf({ ...base, fleet: 'redis://:hunter2-redis-pass@redis.internal:6379' });
    expect(text).toMatch(/fleet must be/);
    expect(text).not.toContain('hunter2-redis-pass');
  });

  it('fleet.redis with a password and a bad keyPrefix: the password is not shown', () => {
    const text = problemsOf({ ...base, fleet: { redis: 'redis://:hunter2-redis-pass@redis.internal:6379', keyPrefix: 'has space' } });
    expect(text).not.toContain('hunter2-redis-pass');
  });

  it('an encryptionKey of the wrong length is refused without showing it', () => {
    const text = problemsOf({ ...base, encryptionKey: 'not-a-valid-key-but-still-a-secret-value' });
    expect(text).toMatch(/encryptionKey/);
    expect(text).not.toContain('not-a-valid-key-but-still-a-secret-value');
  });

  it('a tokenEndpoint carrying credentials is refused without showing them', () => {
    const text = problemsOf({ ...base, tokenEndpoint: 'http://user:hunter2-url-pass@evil.example.test/oauth/token' });
    expect(text).not.toContain('hunter2-url-pass');
  });

  it("JwksAuthModule's fleet given as a Redis URL string is refused without its password too", () => {
    let text = '';
    try {
      resolveJwksOptions({ issuer: 'https://tenant.example.test/', audience: 'api', fleet: 'redis://:hunter2-redis-pass@redis.internal:6379' } as never);
    } catch (err) {
      text = `${(err as Error).message}\n${JSON.stringify(err)}`;
    }
    expect(text).toMatch(/fleet must be/);
    expect(text).not.toContain('hunter2-redis-pass');
  });

  it('an RSA-PSS key restricted to SHA-512 with its default PS256 is refused at startup, not at every token request', () => {
    const pss = generateKeyPairSync('rsa-pss', { modulusLength: 2048, hashAlgorithm: 'sha512', mgf1HashAlgorithm: 'sha512' });
    let resolved: ReturnType<typeof resolveClientCredentialsOptions> | null = null;
    let refused = '';
    try {
      resolved = resolveClientCredentialsOptions({ tokenEndpoint: base.tokenEndpoint, clientId: 'm2m', privateKey: pss.privateKey });
    } catch (err) {
      refused = (err as Error).message;
    }
    if (resolved !== null) {
      // Accepted: then it must be able to sign.
      expect(() => resolved!.service.authenticator.parts(base.tokenEndpoint, Date.now())).not.toThrow();
    } else {
      expect(refused).toMatch(/privateKey|signingAlgorithm/);
      expect(refused).not.toMatch(/BEGIN|PRIVATE KEY/);
    }
    // Asked for a hash the key refuses: refused at startup, naming the option, never the key.
    expect(() => resolveClientCredentialsOptions({ tokenEndpoint: base.tokenEndpoint, clientId: 'm2m', privateKey: pss.privateKey, signingAlgorithm: 'PS256' })).toThrow(/cannot sign PS256/);
  });
});