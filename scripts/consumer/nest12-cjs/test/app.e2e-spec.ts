import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TestIssuer } from 'nestjs-jwks-auth/testing';
import request from 'supertest';
import { AppModule } from '../src/app.module';

describe(`app protected by nestjs-jwks-auth (NestJS 12, CommonJS, Node ${process.version})`, () => {
  let issuer: TestIssuer;
  let app: INestApplication;

  before(async () => {
    issuer = await TestIssuer.start();
    process.env.JWKS_ISSUER = issuer.issuer;
    process.env.JWKS_URI = issuer.jwksUri;
    process.env.JWKS_AUDIENCE = issuer.audience;
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    app = moduleRef.createNestApplication();
    await app.init();
  });

  after(async () => {
    await app?.close();
    await issuer?.close();
  });

  it('answers 200 with the claims for a valid token', async () => {
    const res = await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${issuer.sign({ sub: 'alice' })}`);
    assert.equal(res.status, 200);
    assert.equal(res.body.sub, 'alice');
  });

  it('answers 401 with a Bearer challenge when the token is missing', async () => {
    const res = await request(app.getHttpServer()).get('/me');
    assert.equal(res.status, 401);
    assert.match(String(res.headers['www-authenticate']), /^Bearer/);
  });

  it("verifies through the Passport strategy 'jwks' too", async () => {
    const res = await request(app.getHttpServer()).get('/passport/me').set('Authorization', `Bearer ${issuer.sign({ sub: 'carol' })}`);
    assert.equal(res.status, 200);
    assert.equal(res.body.sub, 'carol');
  });
});
