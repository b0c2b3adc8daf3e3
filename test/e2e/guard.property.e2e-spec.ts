import type { INestApplication } from '@nestjs/common';
import fc from 'fast-check';
import request from 'supertest';
import { JwksAuthModule } from '../../lib';
import { FakeClock, TestIssuer } from '../../lib/testing';
import { bootApp, issuerOptions } from '../fixtures/app';

describe('JwksAuthGuard over HTTP with arbitrary Authorization headers (fast-check)', () => {
  let issuer: TestIssuer;
  let app: INestApplication;
  beforeAll(async () => {
    issuer = await TestIssuer.start();
    app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer))] }, { clock: new FakeClock() });
  });
  afterAll(async () => {
    await app.close();
    await issuer.close();
  });

  it('answers 401 (never 500, never a crash) and fetches at most once per cooldown', async () => {
    const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 600 });
    const before = issuer.requestCount;
    await fc.assert(
      fc.asyncProperty(fc.oneof(printable, printable.map((s) => `Bearer ${s}`), printable.map((s) => `Bearer ${s}.${s}.${s}`)), async (header) => {
        const res = await request(app.getHttpServer()).get('/me').set('Authorization', header);
        expect(res.status).toBe(401);
      }),
      { numRuns: 300 },
    );
    expect(issuer.requestCount - before).toBeLessThanOrEqual(1);
    await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${issuer.sign()}`).expect(200);
  });
});
