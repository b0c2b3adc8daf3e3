import type { INestApplication } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { Redis } from 'ioredis';
import request from 'supertest';
import { JwksAuthModule, JwksCacheService } from '../../lib';
import { IssuersHealthController } from '../fixtures/health.controller';
import { resolveJwksOptions } from '../../lib/options/options.validator';
import { systemClock } from '../../lib/cache/clock';
import { httpJwksFetcher } from '../../lib/fetch/jwks.fetcher';
import { TestIssuer, waitFor } from '../../lib/testing';
import { bootApp, issuerOptions } from '../fixtures/app';
import { RedisServer } from '../fixtures/redis-server';
import { ProtectedController } from '../fixtures/protected.controller';

/** Connections Redis holds from clients other than `raw` itself. */
async function clientCount(raw: Redis): Promise<number> {
  const list = (await raw.call('CLIENT', 'LIST')) as string;
  return list.trim().split('\n').length - 1;
}

describe('JwksAuthModule with fleet: { redis } (Nest apps in this process, one real redis-server)', () => {
  let server: RedisServer;
  let raw: Redis;
  let issuer: TestIssuer;
  const apps: INestApplication[] = [];
  let prefixSeq = 0;

  const boot = (prefix: string) =>
    bootApp({
      imports: [TerminusModule, JwksAuthModule.forRoot(issuerOptions(issuer, { fleet: { redis: server.url, keyPrefix: prefix } }))],
      controllers: [ProtectedController, IssuersHealthController],
    }).then((app) => {
      apps.push(app);
      return app;
    });

  beforeAll(async () => {
    server = await RedisServer.start();
    raw = new Redis(server.url);
    issuer = await TestIssuer.start();
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });
  afterAll(async () => {
    raw.disconnect();
    await issuer.close();
    await server.stop();
  });

  it('two apps share one fetch, verify tokens, report fleet: joined in state and health, and share a revocation', async () => {
    const prefix = `t${++prefixSeq}:`;
    issuer.resetCounts();
    const [a, b] = await Promise.all([boot(prefix), boot(prefix)]);
    expect(issuer.requestCount).toBe(1);
    const token = issuer.sign({ sub: 'alice' });
    for (const app of [a, b]) {
      await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${token}`).expect(200);
      expect(app.get(JwksCacheService).getState().fleet).toBe('joined');
      const health = await request(app.getHttpServer()).get('/health').expect(200);
      expect(health.body.details.jwks).toMatchObject({ status: 'up', fleet: 'joined' });
    }
    // The state lives under the prefix, by issuer host.
    const keys = await raw.keys(`${prefix}*`);
    expect(keys.some((k) => k.startsWith(`${prefix}127.0.0.1:`) && k.endsWith(':state'))).toBe(true);
    a.get(JwksCacheService).revokeKey(issuer.kid);
    await waitFor(() => b.get(JwksCacheService).getState().revokedKids.includes(issuer.kid), 1_000);
    await request(b.getHttpServer()).get('/me').set('Authorization', `Bearer ${token}`).expect(401);
    a.get(JwksCacheService).restoreKey(issuer.kid);
    await waitFor(() => b.get(JwksCacheService).getState().revokedKids.length === 0, 1_000);
    await request(b.getHttpServer()).get('/me').set('Authorization', `Bearer ${token}`).expect(200);
  });

  it('closes the Redis connections it opened when the app closes', async () => {
    const before = await clientCount(raw);
    const app = await boot(`t${++prefixSeq}:`);
    expect(await clientCount(raw)).toBe(before + 2); // commands, and the pub/sub subscriber
    await app.close();
    apps.splice(apps.indexOf(app), 1);
    let count = await clientCount(raw);
    for (const until = Date.now() + 2_000; count !== before && Date.now() < until; count = await clientCount(raw)) await new Promise((r) => setTimeout(r, 25));
    expect(count).toBe(before);
  });

  it('a JwksCacheService built by hand with fleet options closes the connections it opened at shutdown', async () => {
    const before = await clientCount(raw);
    const svc = new JwksCacheService(resolveJwksOptions(issuerOptions(issuer, { fleet: { redis: server.url, keyPrefix: `t${++prefixSeq}:` } })), systemClock, httpJwksFetcher);
    await svc.onApplicationBootstrap();
    expect(svc.getState()).toMatchObject({ fleet: 'joined', keyCount: 1 });
    expect(await clientCount(raw)).toBe(before + 2);
    await svc.onApplicationShutdown();
    let count = await clientCount(raw);
    for (const until = Date.now() + 2_000; count !== before && Date.now() < until; count = await clientCount(raw)) await new Promise((r) => setTimeout(r, 25));
    expect(count).toBe(before);
  });

  it('leaves an ioredis client the app passed in open', async () => {
    const mine = new Redis(server.url);
    const app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { fleet: { redis: mine, keyPrefix: `t${++prefixSeq}:` } }))] });
    expect(app.get(JwksCacheService).getState().fleet).toBe('joined');
    await app.close();
    expect(mine.status).toBe('ready');
    mine.disconnect();
  });

  it('starts and verifies with Redis unreachable: fleet degraded, health still up', async () => {
    const app = await bootApp({
      imports: [TerminusModule, JwksAuthModule.forRoot(issuerOptions(issuer, { fleet: { redis: 'redis://127.0.0.1:1', keyPrefix: 'down:' } }))],
      controllers: [ProtectedController, IssuersHealthController],
    });
    apps.push(app);
    await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${issuer.sign({ sub: 'bob' })}`).expect(200);
    expect(app.get(JwksCacheService).getState().fleet).toBe('degraded');
    const health = await request(app.getHttpServer()).get('/health').expect(200);
    expect(health.body.details.jwks).toMatchObject({ status: 'up', fleet: 'degraded' });
  });
});
