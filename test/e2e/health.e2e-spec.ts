import { Controller, Get, type INestApplication } from '@nestjs/common';
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
