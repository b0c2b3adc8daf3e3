import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { JwksAuthModule, JwksCacheService, JwksOptionsError } from '../../lib';
import { TestIssuer } from '../../lib/testing';
import { bootApp, issuerOptions, HTTP_PLATFORMS } from '../fixtures/app';

describe.each(HTTP_PLATFORMS)('JwksAuthModule.forRoot (%s)', (platform) => {
  let issuer: TestIssuer;
  let app: INestApplication;

  beforeAll(async () => {
    issuer = await TestIssuer.start({ alg: 'ES256' });
    app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { algorithms: ['ES256'], isGlobal: true } as never))] }, { platform });
  });
  afterAll(async () => {
    await app.close();
    await issuer.close();
  });

  it('runs on the HTTP platform it names', () => {
    expect(app.getHttpAdapter().getType()).toBe(platform);
  });

  it('registers the cache, guard and strategy from static options', async () => {
    expect(app.get(JwksCacheService).getState().keyCount).toBe(1);
    await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${issuer.sign({ sub: 'es' })}`).expect(200);
  });

  it('leaves routes without a guard open when globalGuard is off', async () => {
    await request(app.getHttpServer()).get('/unguarded').expect(200);
  });

  it('refuses an RS256 token when only ES256 is allowed', async () => {
    issuer.addKey({ alg: 'RS256', kid: 'rsa' });
    await app.get(JwksCacheService).refresh();
    await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${issuer.sign({}, { kid: 'rsa' })}`).expect(401);
  });

  it('stops startup with every option mistake listed', async () => {
    const compile = Test.createTestingModule({
      imports: [JwksAuthModule.forRoot({ issuer: '', jwksUri: 'http://idp.example.com/jwks', audience: [], algorithms: ['HS256', 'none'] })],
    }).compile();
    await expect(compile).rejects.toBeInstanceOf(JwksOptionsError);
    await expect(compile).rejects.toThrow(/issuer \(or issuers, for several\) is required[\s\S]*jwksUri must use https[\s\S]*audience is required[\s\S]*HS256[\s\S]*none/);
  });
});
