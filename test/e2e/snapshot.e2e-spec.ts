import { chmod, chown, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
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

  /**
   * Another local account plants a snapshot holding its own key, with the IdP's public ETag copied
   * in. If it were trusted at a cold start during an outage, the next 304 would make the planted
   * set "fresh" and it would survive refresh().
   */
  describe('a snapshot we did not write ourselves', () => {
    let attacker: TestIssuer;
    beforeEach(async () => {
      attacker = await TestIssuer.start({ issuer: issuer.issuer, audience: issuer.audience });
    });
    afterEach(() => attacker.close());

    async function plant(path: string): Promise<void> {
      const publicEtag = (await fetch(issuer.jwksUri)).headers.get('etag');
      expect(publicEtag).toBeTruthy();
      const now = Date.now();
      const planted = { version: 1, jwksUri: issuer.jwksUri, jwks: JSON.stringify(attacker.jwks()), fetchedAt: now, etag: publicEtag, freshUntil: now + 600_000 };
      await writeFile(path, JSON.stringify(planted), { mode: 0o600 });
    }

    async function expectNotTrusted(path: string): Promise<void> {
      const forged = attacker.sign({ sub: 'mallory' });
      issuer.queueFaults({ status: 503 }); // the IdP is down at the cold start
      const app = await boot(path);
      const cache = app.get(JwksCacheService);
      expect(cache.getState().phase).toBe('empty');
      // No usable set: 503 (the planted key did not verify it, which would be a 200).
      await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${forged}`).expect(503);
      const state = await cache.refresh({ force: true }); // the IdP is back (force: we are inside the 503 backoff): its real set, not a 304 on the planted one
      expect(issuer.notModifiedCount).toBe(0);
      expect(state).toMatchObject({ phase: 'fresh', notModifiedCount: 0, kids: [issuer.kid] });
      await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${forged}`).expect(401);
      await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${issuer.sign()}`).expect(200);
      await app.close();
    }

    (process.getuid?.() === 0 ? it : it.skip)('refuses one owned by another user, so a 304 cannot bless it', async () => {
      const path = join(dir, 'jwks.json');
      await plant(path);
      await chown(path, 65534, 65534);
      await expectNotTrusted(path);
    });

    it('refuses one writable by others', async () => {
      const path = join(dir, 'jwks.json');
      await plant(path);
      await chmod(path, 0o666);
      await expectNotTrusted(path);
    });

    it('refuses a symlink to one', async () => {
      const path = join(dir, 'jwks.json');
      const elsewhere = join(dir, 'planted.json');
      await plant(elsewhere);
      await symlink(elsewhere, path);
      await expectNotTrusted(path);
    });
  });
});
