import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { JwksAuthModule, JwksCacheService } from '../../lib';
import { FakeClock, TestIssuer } from '../../lib/testing';
import { bootApp, issuerOptions } from '../fixtures/app';

describe('cache.snapshotPath: warm start from the last good set', () => {
  let dir: string;
  let issuer: TestIssuer;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'jwks-snapshot-'));
    issuer = await TestIssuer.start();
  });
  afterEach(async () => {
    await issuer.close();
    await rm(dir, { recursive: true, force: true });
  });

  const boot = (snapshotPath: string, clock = new FakeClock(), extra: object = {}) =>
    bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { cache: { snapshotPath, maxStaleMs: 3_600_000 }, ...extra }))] }, { clock });

  it('writes the set after a good fetch (owner-only) and serves it after a restart during an outage', async () => {
    const path = join(dir, 'jwks.json');
    const first = await boot(path);
    expect(first.get(JwksCacheService).getState().fetchCount).toBe(1);
    await first.close(); // shutdown waits for the pending snapshot write
    const saved = JSON.parse(await readFile(path, 'utf8'));
    expect(saved).toMatchObject({ version: 1, jwksUri: issuer.jwksUri });
    expect((await stat(path)).mode & 0o777).toBe(0o600);

    issuer.setFault({ status: 503 });
    const second = await boot(path);
    const state = second.get(JwksCacheService).getState();
    expect(state).toMatchObject({ keyCount: 1, consecutiveFailures: 1 });
    await request(second.getHttpServer()).get('/me').set('Authorization', `Bearer ${issuer.sign()}`).expect(200);
    await second.close();
  });

  it('ignores a snapshot older than maxStaleMs, one for another JWKS URI, and a corrupt file', async () => {
    const path = join(dir, 'jwks.json');
    const app = await boot(path);
    await app.close();
    const saved = JSON.parse(await readFile(path, 'utf8'));
    issuer.setFault({ status: 503 });

    const later = new FakeClock(Date.now() + 10 * 3_600_000);
    const tooOld = await boot(path, later);
    expect(tooOld.get(JwksCacheService).getState().phase).toBe('empty');
    await tooOld.close();

    await writeFile(path, JSON.stringify({ ...saved, jwksUri: 'https://other.example/jwks.json' }));
    const foreign = await boot(path);
    expect(foreign.get(JwksCacheService).getState().phase).toBe('empty');
    await foreign.close();

    await writeFile(path, '{"version":1,');
    const corrupt = await boot(path);
    expect(corrupt.get(JwksCacheService).getState().phase).toBe('empty');
    await corrupt.close();
  });
});
