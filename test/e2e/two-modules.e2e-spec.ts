import { Controller, Get, Module, UseGuards, type DynamicModule, type INestApplication } from '@nestjs/common';
import { AuthGuard } from '@nestjs/passport';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { CurrentUser, JwksAuthGuard, JwksAuthModule, type JwksAuthModuleOptions, type JwtClaims } from '../../lib';
import { TestIssuer } from '../../lib/testing';

/**
 * Two registrations in one app, each with its own issuer and routes: Passport's strategy table is
 * process-wide, so without their own names the second registration's strategy would serve both.
 */
function area(path: string, jwks: DynamicModule, strategy: string): DynamicModule {
  @Controller(path)
  class AreaController {
    @UseGuards(AuthGuard(strategy))
    @Get('passport')
    viaPassport(@CurrentUser() claims: JwtClaims): JwtClaims {
      return claims;
    }

    @UseGuards(JwksAuthGuard)
    @Get('guard')
    viaGuard(@CurrentUser() claims: JwtClaims): JwtClaims {
      return claims;
    }
  }
  @Module({ imports: [jwks], controllers: [AreaController] })
  class AreaModule {}
  return { module: AreaModule };
}

describe('two JwksAuthModule registrations in one app', () => {
  let a: TestIssuer;
  let b: TestIssuer;
  let app: INestApplication;
  const opts = (issuer: TestIssuer, extra: Partial<JwksAuthModuleOptions>) => ({ issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: issuer.audience, ...extra });

  beforeAll(async () => {
    a = await TestIssuer.start();
    b = await TestIssuer.start();
    const moduleRef = await Test.createTestingModule({
      imports: [
        area('a', JwksAuthModule.forRoot(opts(a, { strategyName: 'jwks-a' })), 'jwks-a'),
        area('b', JwksAuthModule.forRoot(opts(b, { strategyName: 'jwks-b' })), 'jwks-b'),
      ],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
  });
  afterAll(async () => {
    await app.close();
    await a.close();
    await b.close();
  });
  const get = (path: string, token: string) => request(app.getHttpServer()).get(path).set('Authorization', `Bearer ${token}`);

  it("never lets one module's Passport strategy accept the other issuer's tokens", async () => {
    await get('/a/passport', a.sign({ sub: 'from-a' })).expect(200);
    await get('/b/passport', b.sign({ sub: 'from-b' })).expect(200);
    await get('/a/passport', b.sign({ sub: 'from-b' })).expect(401);
    await get('/b/passport', a.sign({ sub: 'from-a' })).expect(401);
  });

  it('keeps each guard on its own module', async () => {
    await get('/a/guard', a.sign()).expect(200);
    await get('/a/guard', b.sign()).expect(401);
    await get('/b/guard', b.sign()).expect(200);
    await get('/b/guard', a.sign()).expect(401);
  });
});
