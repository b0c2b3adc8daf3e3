import { randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { JwksAuthModule, JwksCacheService } from '../../lib';
import { FakeClock, TestIssuer } from '../../lib/testing';
import { bootApp, issuerOptions } from '../fixtures/app';

describe('a flood of unknown kids (real HTTP, fake clock)', () => {
  let issuer: TestIssuer;
  let app: INestApplication;
  const clock = new FakeClock();

  beforeAll(async () => {
    issuer = await TestIssuer.start();
    app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { cache: { cooldownMs: 30_000 } }))] }, { clock });
  });
  afterAll(async () => {
    await app.close();
    await issuer.close();
  });

  async function flood(count: number, valid: string): Promise<void> {
    const http = request(app.getHttpServer());
    const tokens = Array.from({ length: count }, () => issuer.sign({}, { header: { kid: randomUUID() } }));
    for (let i = 0; i < tokens.length; i += 100) {
      const batch = tokens.slice(i, i + 100).map((t) => http.get('/me').set('Authorization', `Bearer ${t}`).expect(401));
      batch.push(http.get('/me').set('Authorization', `Bearer ${valid}`).expect(200));
      await Promise.all(batch);
    }
  }

  it('costs exactly one upstream fetch per cooldown window, and never blocks valid tokens', async () => {
    expect(issuer.requestCount).toBe(1); // the warm-up
    const valid = issuer.sign({ sub: 'alice' });
    await flood(1000, valid);
    expect(issuer.requestCount).toBe(2);
    await clock.advance(29_000);
    await flood(300, valid);
    expect(issuer.requestCount).toBe(2);
    await clock.advance(1_000);
    await flood(300, valid);
    expect(issuer.requestCount).toBe(3);
  });

  it('lets a real new key in on the first request after the cooldown, however many bogus kids came before', async () => {
    await clock.advance(30_000);
    const valid = issuer.sign({ sub: 'alice' });
    await flood(200, valid); // burns this window's refetch on a bogus kid
    const newKid = issuer.rotate();
    const rotated = issuer.sign({ sub: 'bob' });
    const http = request(app.getHttpServer());
    await http.get('/me').set('Authorization', `Bearer ${rotated}`).expect(401);
    await clock.advance(30_000);
    await http.get('/me').set('Authorization', `Bearer ${rotated}`).expect(200);
    expect(app.get(JwksCacheService).getState().kids).toContain(newKid);
  });
});
