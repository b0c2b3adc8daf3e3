import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { AppModule } from '../../sample-app/app.module';
import { startDevIssuer } from '../../sample-app/dev-issuer';
import type { TestIssuer } from '../../lib/testing';

describe('sample-app against its embedded dev issuer', () => {
  let issuer: TestIssuer;
  let app: INestApplication;
  const saved = { ...process.env };

  beforeAll(async () => {
    issuer = await startDevIssuer();
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
  });
  afterAll(async () => {
    await app.close();
    await issuer.close();
    process.env = saved;
  });

  it('serves the public route, refuses /profile without a token and accepts a dev-issuer token', async () => {
    const http = request(app.getHttpServer());
    await http.get('/').expect(200);
    await http.get('/profile').expect(401);
    const res = await http.get('/profile').set('Authorization', `Bearer ${issuer.sign({ sub: 'alice' })}`).expect(200);
    expect(res.body.sub).toBe('alice');
  });

  it('reports health and lets only jwks:admin tokens refresh the key set', async () => {
    const http = request(app.getHttpServer());
    await http.get('/health').expect(200);
    const refused = await http.post('/admin/jwks/refresh').set('Authorization', `Bearer ${issuer.sign({ scope: 'read' })}`).expect(403);
    expect(refused.headers['www-authenticate']).toBe('Bearer error="insufficient_scope", scope="jwks:admin"');
    const before = issuer.requestCount;
    const res = await http.post('/admin/jwks/refresh').set('Authorization', `Bearer ${issuer.sign({ scope: 'jwks:admin' })}`).expect(200);
    expect(issuer.requestCount).toBe(before + 1);
    expect(res.body).toMatchObject({ phase: 'fresh', keyCount: 2 }); // the users' key and the dev admin key
  });

  it('lets an admin revoke a key at once and restore it', async () => {
    const http = request(app.getHttpServer());
    const first = issuer.kid;
    const user = `Bearer ${issuer.sign({ sub: 'alice' })}`;
    // the admin's token is signed with a second published key, which stays trusted
    const admin = `Bearer ${issuer.sign({ scope: 'jwks:admin' }, { kid: issuer.addKey() })}`;
    await http.get('/profile').set('Authorization', user).expect(200);
    const revoked = await http.post(`/admin/jwks/revoke/${first}`).set('Authorization', admin).expect(200);
    expect(revoked.body.revokedKids).toEqual([first]);
    await http.get('/profile').set('Authorization', user).expect(401);
    await http.post('/admin/jwks/revoke/bad%20kid').set('Authorization', admin).expect(400);
    await http.post(`/admin/jwks/restore/${first}`).set('Authorization', admin).expect(200);
    await http.get('/profile').set('Authorization', user).expect(200);
  });

  it('answers 429 with Retry-After instead of refreshing while the IdP asks us to wait', async () => {
    const http = request(app.getHttpServer());
    const admin = `Bearer ${issuer.sign({ scope: 'jwks:admin' })}`;
    issuer.queueFaults({ status: 429, headers: { 'retry-after': '600' } });
    await http.post('/admin/jwks/refresh').set('Authorization', admin).expect(200); // this one meets the 429
    const before = issuer.requestCount;
    for (let i = 0; i < 20; i++) {
      const res = await http.post('/admin/jwks/refresh').set('Authorization', admin).expect(429);
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(590);
    }
    expect(issuer.requestCount).toBe(before);
  });
});
