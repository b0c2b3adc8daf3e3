import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { JwksAuthModule } from '../../lib';
import { TestIssuer } from '../../lib/testing';
import { bootApp, issuerOptions, HTTP_PLATFORMS } from '../fixtures/app';

describe.each(HTTP_PLATFORMS)('globalGuard: true (%s)', (platform) => {
  let issuer: TestIssuer;
  beforeAll(async () => {
    issuer = await TestIssuer.start();
  });
  afterAll(async () => {
    await issuer.close();
  });

  for (const style of ['forRoot', 'forRootAsync'] as const) {
    describe(`with ${style}`, () => {
      let app: INestApplication;
      beforeAll(async () => {
        const options = issuerOptions(issuer, { globalGuard: true });
        const module = style === 'forRoot' ? JwksAuthModule.forRoot(options) : JwksAuthModule.forRootAsync({ useFactory: () => options });
        app = await bootApp({ imports: [module] }, { platform });
      });
      afterAll(async () => {
        await app.close();
      });

      it('protects every route without @UseGuards', async () => {
        const res = await request(app.getHttpServer()).get('/unguarded').expect(401);
        expect(res.headers['www-authenticate']).toBe('Bearer');
        const bad = await request(app.getHttpServer()).get('/unguarded').set('Authorization', 'Bearer a.b.c').expect(401);
        expect(bad.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
        await request(app.getHttpServer()).get('/unguarded').set('Authorization', `Bearer ${issuer.sign()}`).expect(200);
      });

      it('lets @Public() routes through', async () => {
        await request(app.getHttpServer()).get('/public').expect(200);
      });
    });
  }

  it('forRootAsync without globalGuard leaves unguarded routes open', async () => {
    const app = await bootApp({ imports: [JwksAuthModule.forRootAsync({ useFactory: () => issuerOptions(issuer) })] }, { platform });
    await request(app.getHttpServer()).get('/unguarded').expect(200);
    await request(app.getHttpServer()).get('/me').expect(401);
    await app.close();
  });
});
