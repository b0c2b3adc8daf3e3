import { type INestApplication } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { JWKS_CLOCK, JWKS_EVENT_LISTENERS, JwksAuthModule, JwksCacheService, loggingListener, type JwksAuthEvent } from '../../lib';
import { FakeClock, TestIssuer } from '../../lib/testing';
import { ProtectedController } from '../fixtures/protected.controller';
import { IssuersHealthController } from '../fixtures/health.controller';

/* What an operator of a multi-tenant app meets: health before the first tenant and for a removed
 * one, a log line when tenants come and go, and test tokens signed on the app's fake clock. */

describe('issuers, as an operator meets them', () => {
  let idp: TestIssuer;
  let app: INestApplication;
  const clock = new FakeClock();
  const events: JwksAuthEvent[] = [];
  const lines: string[] = [];

  beforeAll(async () => {
    idp = await TestIssuer.start({ path: '/realms/late', clock });
    const log = { log: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
    const moduleRef = await Test.createTestingModule({
      imports: [TerminusModule, JwksAuthModule.forRoot({ issuers: [], audience: idp.audience })],
      controllers: [ProtectedController, IssuersHealthController],
    })
      .overrideProvider(JWKS_CLOCK)
      .useValue(clock)
      .overrideProvider(JWKS_EVENT_LISTENERS)
      .useValue([(e: JwksAuthEvent) => events.push(e), loggingListener(log)])
      .compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
  });
  afterAll(async () => {
    await app.close();
    await idp.close();
  });

  it('is healthy with no issuer yet (the database recipe before its first tenant), and refuses every token', async () => {
    const res = await request(app.getHttpServer()).get('/health').expect(200);
    expect(res.body.details.jwks).toMatchObject({ status: 'up', issuers: {}, up: 0, down: 0 });
    await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${idp.sign()}`).expect(401);
  });

  it('announces and logs an issuer added and removed at runtime, and reports a removed issuer down instead of failing the health route', async () => {
    const jwks = app.get(JwksCacheService);
    await jwks.addIssuer({ issuer: idp.issuer });
    expect(events.filter((e) => e.type === 'issuer-added')).toEqual([{ type: 'issuer-added', issuer: idp.issuer, jwksUri: idp.issuer }]);
    expect(lines).toContain(`JWKS: issuer ${idp.issuer} added`);
    await request(app.getHttpServer()).get('/health').query({ issuer: idp.issuer }).expect(200);

    await jwks.removeIssuer(idp.issuer);
    expect(events.filter((e) => e.type === 'issuer-removed')).toEqual([expect.objectContaining({ type: 'issuer-removed', issuer: idp.issuer })]);
    expect(lines).toContain(`JWKS: issuer ${idp.issuer} removed: its tokens are refused from now on`);
    const res = await request(app.getHttpServer()).get('/health').query({ issuer: idp.issuer }).expect(503);
    expect(res.body.error.jwks).toEqual({ status: 'down', message: 'not a configured issuer' });
  });

  it('signs test tokens on the app\'s fake clock when the TestIssuer is given it', async () => {
    const jwks = app.get(JwksCacheService);
    await jwks.addIssuer({ issuer: idp.issuer });
    // Eleven minutes later on the app's clock: a token signed on the real time would be expired here.
    await clock.advance(11 * 60_000);
    const token = idp.sign();
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { iat: number };
    expect(claims.iat).toBe(Math.floor(clock.now() / 1000));
    await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${token}`).expect(200);
  });
});
