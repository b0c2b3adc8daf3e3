import { Controller, Get, Query, type INestApplication } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import request from 'supertest';
import { JwksAuthModule, JwksCacheService, JwksHealthIndicator, Public } from '../../lib';
import { FakeClock, TestIssuer, waitFor } from '../../lib/testing';
import { bootApp, issuerOptions } from '../fixtures/app';

@Controller('health')
class HealthController {
  constructor(private readonly health: HealthCheckService, private readonly jwks: JwksHealthIndicator) {}

  @Public()
  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.jwks.isHealthy()]);
  }

  @Public()
  @Get('ready')
  @HealthCheck()
  ready(@Query('require') require?: 'all' | 'any') {
    return this.health.check([() => this.jwks.isReady('jwks', { require })]);
  }

  @Public()
  @Get('live')
  @HealthCheck()
  live() {
    return this.health.check([() => this.jwks.isAlive()]);
  }
}

describe('JwksHealthIndicator with Terminus', () => {
  let issuer: TestIssuer;
  let app: INestApplication;
  const clock = new FakeClock();

  beforeAll(async () => {
    issuer = await TestIssuer.start();
    app = await bootApp(
      {
        imports: [TerminusModule, JwksAuthModule.forRoot(issuerOptions(issuer, { cache: { ttlMs: 60_000, maxStaleMs: 120_000 } }))],
        controllers: [HealthController],
      },
      { clock },
    );
  });
  afterAll(async () => {
    await app.close();
    await issuer.close();
  });

  it('is up while a key set is held', async () => {
    const res = await request(app.getHttpServer()).get('/health').expect(200);
    expect(res.body.details.jwks).toMatchObject({ status: 'up', phase: 'fresh', keyCount: 1, consecutiveFailures: 0 });
  });

  it('stays up on a stale set while the endpoint fails, and goes down with the last error once the set expires', async () => {
    issuer.setFault({ status: 503 });
    await clock.advance(61_000);
    await waitFor(() => app.get(JwksCacheService).getState().consecutiveFailures > 0);
    let res = await request(app.getHttpServer()).get('/health').expect(200);
    expect(res.body.details.jwks).toMatchObject({ status: 'up', phase: 'stale' });
    await clock.advance(120_000);
    res = await request(app.getHttpServer()).get('/health').expect(503);
    expect(res.body.details.jwks).toMatchObject({ status: 'down', phase: 'expired', keyCount: 1, lastError: { kind: 'status', status: 503 } });
    expect(res.body.details.jwks.ageMs).toBeGreaterThanOrEqual(181_000);
  });

  it('comes back up on the first good fetch', async () => {
    issuer.clearFault();
    await clock.advance(61_000);
    await waitFor(() => app.get(JwksCacheService).getState().consecutiveFailures === 0);
    const res = await request(app.getHttpServer()).get('/health').expect(200);
    expect(res.body.details.jwks).toMatchObject({ status: 'up', phase: 'fresh', consecutiveFailures: 0 });
  });

  it('reports revoked keys as a count and stays up, even with every key revoked', async () => {
    const cache = app.get(JwksCacheService);
    cache.revokeKey(issuer.kid);
    const res = await request(app.getHttpServer()).get('/health').expect(200);
    expect(res.body.details.jwks).toMatchObject({ status: 'up', keyCount: 0, revokedKeyCount: 1 });
    expect(JSON.stringify(res.body)).not.toContain(issuer.kid);
    cache.restoreKey(issuer.kid);
  });
});

describe('Kubernetes probes: JwksHealthIndicator.isReady() and isAlive()', () => {
  let issuer: TestIssuer;
  let other: TestIssuer;
  let app: INestApplication;
  const clock = new FakeClock();

  beforeAll(async () => {
    issuer = await TestIssuer.start({ clock });
    other = await TestIssuer.start({ clock });
    // Both IdPs down at startup: the app starts (no failOnWarmupError) and keeps trying.
    issuer.setFault({ status: 503 });
    other.setFault({ status: 503 });
    app = await bootApp(
      {
        imports: [
          TerminusModule,
          JwksAuthModule.forRoot({
            issuers: [
              { issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: issuer.audience },
              { issuer: other.issuer, jwksUri: other.jwksUri, audience: other.audience },
            ],
            cache: { ttlMs: 60_000, maxStaleMs: 120_000 },
          }),
        ],
        controllers: [HealthController],
      },
      { clock },
    );
  });
  afterAll(async () => {
    await app.close();
    await issuer.close();
    await other.close();
  });

  const get = (path: string) => request(app.getHttpServer()).get(path);

  it('is not ready before the first key set, with what an on-call needs; alive all the same, without asking the IdP', async () => {
    const requests = issuer.requestCount + other.requestCount;
    const ready = await get('/health/ready').expect(503);
    const details = ready.body.details.jwks;
    expect(details).toMatchObject({ status: 'down', ready: 0, notReady: 2 });
    expect(details.issuers[issuer.issuer]).toMatchObject({
      status: 'down',
      phase: 'empty',
      keyCount: 0,
      ageMs: null,
      consecutiveFailures: 1,
      lastError: { kind: 'status', status: 503 },
      nextAttemptAt: expect.any(Number),
    });
    await get('/health/ready?require=any').expect(503);
    const live = await get('/health/live').expect(200);
    expect(live.body.details.jwks).toMatchObject({ status: 'up', issuers: 2 });
    expect(issuer.requestCount + other.requestCount).toBe(requests);
  });

  it('with require: any, is ready once one issuer has a set; with all, once every one has', async () => {
    issuer.clearFault();
    await app.get(JwksCacheService).refresh(issuer.issuer, { force: true });
    await get('/health/ready?require=any').expect(200);
    const all = await get('/health/ready').expect(503);
    expect(all.body.details.jwks.issuers[issuer.issuer]).toMatchObject({ status: 'up', phase: 'fresh', keyCount: 1 });
    other.clearFault();
    await app.get(JwksCacheService).refresh(other.issuer, { force: true });
    await get('/health/ready').expect(200);
  });

  it('stays ready and alive through an IdP outage that outlasts the set (the app answers 503 itself), while isHealthy() goes down', async () => {
    issuer.setFault({ status: 503 });
    other.setFault({ reset: true });
    await clock.advance(200_000);
    await waitFor(() => app.get(JwksCacheService).getState(issuer.issuer).phase === 'expired');
    await get('/health').expect(503);
    const requests = issuer.requestCount + other.requestCount;
    const ready = await get('/health/ready').expect(200);
    expect(ready.body.details.jwks.issuers[issuer.issuer]).toMatchObject({ status: 'up', phase: 'expired', lastError: { status: 503 } });
    await get('/health/live').expect(200);
    expect(issuer.requestCount + other.requestCount).toBe(requests);
    issuer.clearFault();
    other.clearFault();
  });
});
