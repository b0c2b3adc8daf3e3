import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { JWKS_STORE, JwksAuthEvents, JwksAuthModule, JwksCacheService, MemoryKeySetStore, type JwksAuthEvent, type JwksAuthModuleOptions } from '../../lib';
import { FakeClock, TestIssuer, waitFor } from '../../lib/testing';
import { bootApp, issuerOptions } from '../fixtures/app';
import { ProtectedController } from '../fixtures/protected.controller';
import { RedisServer } from '../fixtures/redis-server';

/** A service of the app that subscribes in its constructor, as a user's would: it sees the warm-up too. */
@Injectable()
class Recorder {
  readonly all: JwksAuthEvent[] = [];
  readonly revoked: { kid: string; issuer: string }[] = [];
  constructor(events: JwksAuthEvents) {
    // A broken subscriber, first in line: neither key lookups nor the subscribers after it may notice.
    events.on('event', () => {
      throw new Error('broken subscriber');
    });
    events.on('key-revoked', () => {
      throw new Error('broken subscriber');
    });
    events.on('event', (e) => this.all.push(e));
    // Typed per name: `e` is the key-revoked event, `e.kid` needs no cast.
    events.on('key-revoked', (e) => this.revoked.push({ kid: e.kid, issuer: e.issuer }));
  }

  of<T extends JwksAuthEvent['type']>(type: T): Extract<JwksAuthEvent, { type: T }>[] {
    return this.all.filter((e): e is Extract<JwksAuthEvent, { type: T }> => e.type === type);
  }
}

async function boot(options: JwksAuthModuleOptions, clock?: FakeClock): Promise<{ app: INestApplication; rec: Recorder }> {
  const app = await bootApp({ imports: [JwksAuthModule.forRoot(options)], providers: [Recorder] }, { clock });
  return { app, rec: app.get(Recorder) };
}

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

describe('JwksAuthEvents: the public event stream, in real apps', () => {
  let issuer: TestIssuer;
  let dir: string;
  const apps: INestApplication[] = [];
  const track = <T extends { app: INestApplication }>(booted: T): T => {
    apps.push(booted.app);
    return booted;
  };

  beforeAll(async () => {
    issuer = await TestIssuer.start();
    dir = await mkdtemp(join(tmpdir(), 'jwks-events-'));
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
    issuer.clearFault();
    issuer.setDiscoveryFault(null);
  });
  afterAll(async () => {
    await issuer.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('delivers the key set\'s and the verifier\'s events, each with its issuer, past a subscriber that throws', async () => {
    const { app, rec } = track(await boot(issuerOptions(issuer)));
    const server = app.getHttpServer();
    expect(rec.of('fetch-finished')[0]).toMatchObject({ issuer: issuer.issuer, trigger: 'warm-up', outcome: 'ok', status: 200 });
    expect(rec.of('key-set-changed')[0]).toMatchObject({ issuer: issuer.issuer, origin: 'fetch', kidsAdded: [issuer.kid] });

    // A rotation found by an unknown kid, then a second unknown kid inside the cooldown.
    const next = issuer.rotate();
    await request(server).get('/me').set(bearer(issuer.sign())).expect(200);
    expect(rec.of('unknown-kid')[0]).toMatchObject({ issuer: issuer.issuer, jwksUri: issuer.jwksUri });
    expect(rec.of('key-set-changed').at(-1)).toMatchObject({ issuer: issuer.issuer, kidsAdded: [next] });
    const unpublished = issuer.addKey({ publish: false });
    await request(server).get('/me').set(bearer(issuer.sign({}, { kid: unpublished }))).expect(401);
    expect(rec.of('refetch-refused')[0]).toMatchObject({ issuer: issuer.issuer, reason: 'cooldown' });
    expect(rec.of('token-refused').at(-1)).toMatchObject({ issuer: issuer.issuer, code: expect.stringMatching(/^ERR_/) });

    // The operator's calls.
    const cache = app.get(JwksCacheService);
    cache.revokeKey(next);
    cache.restoreKey(next);
    expect(rec.of('key-revoked').at(-1)).toMatchObject({ issuer: issuer.issuer, kid: next });
    expect(rec.revoked).toEqual([{ kid: next, issuer: issuer.issuer }]);
    expect(rec.of('key-restored').at(-1)).toMatchObject({ issuer: issuer.issuer, kid: next });

    // A set with a key that cannot verify, then a failed fetch while the set is usable.
    issuer.setFault({ body: { keys: [...issuer.jwks().keys, { kty: 'oct', k: 'c2VjcmV0', kid: 'hmac' }] } });
    await cache.refresh({ force: true });
    expect(rec.of('keys-skipped').at(-1)).toMatchObject({ issuer: issuer.issuer, count: 1 });
    issuer.setFault({ status: 503 });
    await cache.refresh({ force: true });
    expect(rec.of('fetch-finished').at(-1)).toMatchObject({ issuer: issuer.issuer, trigger: 'manual', outcome: 'failed', status: 503 });
    expect(rec.of('stale-served').at(-1)).toMatchObject({ issuer: issuer.issuer, reason: 'fetch-failed' });

    // An issuer added and removed at runtime.
    const other = await TestIssuer.start();
    try {
      await cache.addIssuer({ issuer: other.issuer, jwksUri: other.jwksUri, audience: other.audience });
      await cache.removeIssuer(other.issuer);
    } finally {
      await other.close();
    }
    expect(rec.of('issuer-added')).toEqual([expect.objectContaining({ issuer: other.issuer })]);
    expect(rec.of('issuer-removed')).toEqual([expect.objectContaining({ issuer: other.issuer })]);

    // Every event went to the typed subscriber despite the throwing one, and each named an issuer.
    expect(rec.all.every((e) => typeof e.issuer === 'string' && (e.type === 'token-refused' || e.issuer.length > 0))).toBe(true);
  });

  it('delivers a request\'s wait that timed out (stale-served: wait-timeout)', async () => {
    const { app, rec } = track(await boot(issuerOptions(issuer, { cache: { maxWaitMs: 100 } })));
    app.get(JwksCacheService).invalidate();
    issuer.setFault({ delayMs: 2_000 });
    await request(app.getHttpServer()).get('/me').set(bearer(issuer.sign())).expect(200);
    expect(rec.of('stale-served').at(-1)).toMatchObject({ issuer: issuer.issuer, reason: 'wait-timeout' });
  });

  it('delivers a failed warm-up', async () => {
    issuer.setFault({ status: 503 });
    const { rec } = track(await boot(issuerOptions(issuer)));
    expect(rec.of('warm-up-failed')).toEqual([expect.objectContaining({ issuer: issuer.issuer })]);
  });

  it('delivers the snapshot store\'s events: restored, not used', async () => {
    const path = join(dir, 'a', 'jwks.json');
    await mkdir(join(dir, 'a'));
    const first = await boot(issuerOptions(issuer, { cache: { snapshotPath: path, maxStaleMs: 3_600_000 } }));
    await first.app.close();

    issuer.setFault({ status: 503 });
    const restored = track(await boot(issuerOptions(issuer, { cache: { snapshotPath: path, maxStaleMs: 3_600_000 } })));
    expect(restored.rec.of('store-restored')).toEqual([expect.objectContaining({ issuer: issuer.issuer, keyCount: issuer.publishedKids().length })]);

    const tooOld = track(await boot(issuerOptions(issuer, { cache: { snapshotPath: path, maxStaleMs: 3_600_000 } }), new FakeClock(Date.now() + 10 * 3_600_000)));
    expect(tooOld.rec.of('store-not-used')).toEqual([expect.objectContaining({ issuer: issuer.issuer, reason: 'older-than-max-stale' })]);

  });

  it('delivers store-save-failed when the app\'s own store cannot save (a read-only one)', async () => {
    class ReadOnlyStore extends MemoryKeySetStore {
      override save(): Promise<void> {
        return Promise.reject(Object.assign(new Error('read-only file system'), { code: 'EROFS' }));
      }
    }
    const moduleRef = await Test.createTestingModule({ controllers: [ProtectedController], imports: [JwksAuthModule.forRoot(issuerOptions(issuer))], providers: [Recorder] })
      .overrideProvider(JWKS_STORE)
      .useValue(new ReadOnlyStore())
      .compile();
    const app = moduleRef.createNestApplication({ logger: false });
    apps.push(app);
    await app.init();
    const rec = app.get(Recorder);
    await waitFor(() => rec.of('store-save-failed').length > 0, 2_000);
    expect(rec.of('store-save-failed')[0]).toEqual(expect.objectContaining({ issuer: issuer.issuer, code: 'EROFS' }));
    // The set in memory serves regardless.
    await request(app.getHttpServer()).get('/me').set(bearer(issuer.sign())).expect(200);
  });

  it('delivers discovery\'s events: the keys moved, a re-read failed', async () => {
    const clock = new FakeClock();
    const found = await TestIssuer.start({ clock });
    try {
      const { app, rec } = track(await boot({ issuer: found.issuer, audience: found.audience, cache: { ttlMs: 60_000, maxTtlMs: 60_000 } }, clock));
      const cache = app.get(JwksCacheService);
      found.moveJwks('/moved/jwks.json');
      await cache.refresh({ force: true }); // 404 at the old location: the document is read again next time
      await cache.refresh({ force: true });
      expect(rec.of('jwks-uri-changed')).toEqual([expect.objectContaining({ issuer: found.issuer, jwksUri: expect.stringContaining('/moved/jwks.json') })]);
      found.setDiscoveryFault({ status: 503 });
      await clock.advance(61_000); // past maxTtlMs: the document is re-read, and fails
      await cache.refresh({ force: true });
      expect(rec.of('discovery-failed')).toEqual([expect.objectContaining({ issuer: found.issuer })]);
      expect(app.get(JwksCacheService).getState().keyCount).toBe(1);
    } finally {
      await Promise.all(apps.splice(0).map((a) => a.close()));
      await found.close();
    }
  });

  it('delivers fleet-joined to a process that takes the fleet\'s shared set (real redis-server)', async () => {
    const redis = await RedisServer.start();
    try {
      const fleet = { redis: redis.url, keyPrefix: 'events:' };
      track(await boot(issuerOptions(issuer, { fleet })));
      const second = track(await boot(issuerOptions(issuer, { fleet })));
      expect(second.rec.of('fleet-joined')).toEqual([expect.objectContaining({ issuer: issuer.issuer, keyCount: expect.any(Number) })]);
    } finally {
      await Promise.all(apps.splice(0).map((a) => a.close()));
      await redis.stop();
    }
  });
});
