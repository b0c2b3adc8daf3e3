import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { INestApplication } from '@nestjs/common';
import { TestIssuer } from 'nestjs-jwks-auth/testing';
import request from 'supertest';
import { startApp } from '../app.js';

describe('app protected by nestjs-jwks-auth (NestJS 12, ESM, Vitest)', () => {
  let issuer: TestIssuer;
  let app: INestApplication;

  beforeAll(async () => {
    ({ app, issuer } = await startApp());
  });

  afterAll(async () => {
    await app?.close();
    await issuer?.close();
  });

  it('answers 200 with the claims for a valid token', async () => {
    const res = await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${issuer.sign({ sub: 'alice' })}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ sub: 'alice', iss: issuer.issuer });
  });

  it('answers 401 with a Bearer challenge when the token is missing', async () => {
    const res = await request(app.getHttpServer()).get('/me');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
  });

  it('answers 401 for a token signed by a key the issuer does not publish', async () => {
    const other = await TestIssuer.start({ issuer: issuer.issuer, audience: issuer.audience });
    try {
      const res = await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${other.sign({ sub: 'mallory' })}`);
      expect(res.status).toBe(401);
    } finally {
      await other.close();
    }
  });

  it('hands one claim to @CurrentUser(name) and lets @Public() routes through', async () => {
    const id = await request(app.getHttpServer()).get('/me/id').set('Authorization', `Bearer ${issuer.sign({ sub: 'bob' })}`);
    expect(id.status).toBe(200);
    expect(id.body).toEqual({ sub: 'bob' });
    const ping = await request(app.getHttpServer()).get('/ping');
    expect(ping.status).toBe(200);
    expect(ping.text).toBe('pong');
  });

  it("verifies through the Passport strategy 'jwks' too", async () => {
    const ok = await request(app.getHttpServer()).get('/passport/me').set('Authorization', `Bearer ${issuer.sign({ sub: 'carol' })}`);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ sub: 'carol' });
    const missing = await request(app.getHttpServer()).get('/passport/me');
    expect(missing.status).toBe(401);
  });

  it('exposes the key-set state through the injected JwksCacheService', async () => {
    const res = await request(app.getHttpServer()).get('/keys').set('Authorization', `Bearer ${issuer.sign({ sub: 'alice' })}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ phase: 'fresh', keyCount: 1 });
  });

  it('reports the key set through Terminus', async () => {
    const res = await request(app.getHttpServer()).get('/health');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ok', info: { jwks: { status: 'up', keyCount: 1 } } });
  });
});
