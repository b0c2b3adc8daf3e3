import { Test } from '@nestjs/testing';
import request from 'supertest';
import { JwksAuthModule, JwksCacheService, JwksFetchError } from '../../lib';
import { FakeClock, TestIssuer, waitFor } from '../../lib/testing';
import { ProtectedController } from '../fixtures/protected.controller';
import { bootApp, issuerOptions } from '../fixtures/app';

describe('warm-up at bootstrap', () => {
  let issuer: TestIssuer;
  beforeEach(async () => {
    issuer = await TestIssuer.start();
  });
  afterEach(async () => {
    await issuer.close();
  });

  it('starts anyway when the IdP is down, answers 503 meanwhile, and recovers in the background', async () => {
    issuer.setFault({ status: 500 });
    const clock = new FakeClock();
    const app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer))] }, { clock });
    const cache = app.get(JwksCacheService);
    expect(cache.getState()).toMatchObject({ phase: 'empty', consecutiveFailures: 1, lastError: { kind: 'status', status: 500 } });
    const token = issuer.sign();
    await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${token}`).expect(503);
    issuer.clearFault();
    await clock.advance(1_000); // first backoff is at most 1 s
    await waitFor(() => cache.getState().fetchCount === 2);
    expect(cache.getState().phase).toBe('fresh');
    await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${token}`).expect(200);
    await app.close();
  });

  it('fails startup when failOnWarmupError is set', async () => {
    issuer.setFault({ reset: true });
    const moduleRef = await Test.createTestingModule({
      imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { failOnWarmupError: true }))],
      controllers: [ProtectedController],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await expect(app.init()).rejects.toBeInstanceOf(JwksFetchError);
    await app.close();
  });

  it('clears its background timer on shutdown, so the process can exit', async () => {
    const clock = new FakeClock();
    const app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer))] }, { clock });
    expect(clock.pending()).toHaveLength(1);
    await app.close();
    expect(clock.pending()).toHaveLength(0);
  });
});
