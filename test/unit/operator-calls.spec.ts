import { generateKeyPairSync } from 'node:crypto';
import { afterEach, beforeEach } from '@jest/globals';
import { Logger, type LoggerService } from '@nestjs/common';
import { JwksCacheService } from '../../lib/services/jwks-cache.service';
import { resolveJwksOptions } from '../../lib/options/options.validator';
import { JwksArgumentError } from '../../lib/errors/jwks.errors';
import { JWKS_DEFAULTS } from '../../lib/jwks-auth.constants';
import type { JwksFetcher } from '../../lib/fetch/jwks.fetcher';
import { FakeClock } from '../../lib/testing';

const options = resolveJwksOptions({ issuer: 'https://issuer.test/', jwksUri: 'https://issuer.test/jwks.json?tenant=SECRETQUERY', audience: 'api', algorithms: ['ES256'] });
const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const kid = 'kid-that-must-never-be-logged';
const fetcher: JwksFetcher = async () => ({ kind: 'ok', jwks: JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256' }] }), etag: null });

describe('operator calls: the promises the README makes about them', () => {
  const lines: string[] = [];
  beforeEach(() => {
    lines.length = 0;
    const capture = (message: unknown) => void lines.push(String(message));
    const logger: LoggerService = { log: capture, warn: capture, error: capture, debug: capture, verbose: capture };
    Logger.overrideLogger(logger);
  });
  afterEach(() => Logger.overrideLogger(false));

  async function started() {
    const svc = new JwksCacheService(options, new FakeClock(), fetcher);
    await svc.onApplicationBootstrap();
    return svc;
  }

  it('names a revoked kid in logs only by its hash, and the JWKS URI without its query', async () => {
    const svc = await started();
    svc.revokeKey(kid);
    svc.restoreKey(kid);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.join('\n')).not.toContain(kid);
    expect(lines.join('\n')).toMatch(/kid#[A-Za-z0-9_-]{10}/);
    const failing = new JwksCacheService(options, new FakeClock(), async () => {
      throw new Error('down');
    });
    await failing.onApplicationBootstrap();
    expect(lines.join('\n')).toContain('https://issuer.test/jwks.json');
    expect(lines.join('\n')).not.toContain('SECRETQUERY');
  });

  it(`holds at most ${JWKS_DEFAULTS.maxRevokedKids} revoked kids`, async () => {
    const svc = await started();
    for (let i = 0; i < JWKS_DEFAULTS.maxRevokedKids; i++) svc.revokeKey(`k${i}`);
    expect(() => svc.revokeKey('one-too-many')).toThrow(JwksArgumentError);
    svc.revokeKey('k0'); // revoking one already held is fine
    svc.restoreKey('k0');
    svc.revokeKey('one-too-many');
    expect(svc.getState().revokedKids).toHaveLength(JWKS_DEFAULTS.maxRevokedKids);
  });
});
