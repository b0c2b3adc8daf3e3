import { Controller, Get, Injectable, Module, UseGuards, type INestApplication } from '@nestjs/common';
import { AuthGuard, PassportStrategy } from '@nestjs/passport';
import { ExtractJwt } from 'passport-jwt';
import request from 'supertest';
import { CurrentUser, JwksAuthModule, JwksJwtStrategy, JwtVerifier, type JwtClaims } from '../../lib';
import { TestIssuer } from '../../lib/testing';
import { bootApp, issuerOptions } from '../fixtures/app';

@Controller('alias')
class AliasController {
  @UseGuards(AuthGuard('jwt'))
  @Get('jwt')
  jwt(@CurrentUser() claims: JwtClaims): JwtClaims {
    return claims;
  }

  @UseGuards(AuthGuard('jwks'))
  @Get('jwks')
  jwks(@CurrentUser() claims: JwtClaims): JwtClaims {
    return claims;
  }
}

describe("passportAliases: AuthGuard('jwt') on the module's strategy, EdDSA through Passport", () => {
  let issuer: TestIssuer;
  let app: INestApplication;
  beforeAll(async () => {
    issuer = await TestIssuer.start({ alg: 'EdDSA' });
    app = await bootApp({
      imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { algorithms: ['EdDSA'], passportAliases: ['jwt'] }))],
      controllers: [AliasController],
    });
  });
  afterAll(async () => {
    await app.close();
    await issuer.close();
  });

  it("accepts an EdDSA token through AuthGuard('jwks'), as the guard does", async () => {
    const res = await request(app.getHttpServer()).get('/alias/jwks').set('Authorization', `Bearer ${issuer.sign({ sub: 'ed' })}`).expect(200);
    expect(res.body).toMatchObject({ sub: 'ed', iss: issuer.issuer });
  });

  it("answers AuthGuard('jwt') with the same strategy, refusing what it refuses", async () => {
    const http = request(app.getHttpServer());
    const res = await http.get('/alias/jwt').set('Authorization', `Bearer ${issuer.sign({ sub: 'alias' })}`).expect(200);
    expect(res.body).toMatchObject({ sub: 'alias' });
    await http.get('/alias/jwt').set('Authorization', `Bearer ${issuer.sign({ aud: 'elsewhere' })}`).expect(401);
    await http.get('/alias/jwt').expect(401);
  });
});

/** A passport-jwt strategy moved over by changing its base class: passport-jwt's extractor, our verifier. */
@Injectable()
class QueryStrategy extends PassportStrategy(JwksJwtStrategy, 'query-jwt') {
  constructor(verifier: JwtVerifier) {
    super({ verifier, jwtFromRequest: ExtractJwt.fromUrlQueryParameter('access_token'), passReqToCallback: true });
  }

  validate(req: { query: Record<string, string> }, claims: JwtClaims): JwtClaims | false {
    return req.query.deny === '1' ? false : { ...claims, via: 'query' };
  }
}

@Controller('query')
class QueryController {
  @UseGuards(AuthGuard('query-jwt'))
  @Get()
  me(@CurrentUser() claims: JwtClaims): JwtClaims {
    return claims;
  }
}

@Module({ providers: [QueryStrategy], controllers: [QueryController] })
class QueryModule {}

describe('JwksJwtStrategy: passport-jwt extractors and passReqToCallback on our verifier', () => {
  let issuer: TestIssuer;
  let app: INestApplication;
  beforeAll(async () => {
    issuer = await TestIssuer.start({ alg: 'EdDSA' });
    app = await bootApp({ imports: [JwksAuthModule.forRoot({ ...issuerOptions(issuer, { algorithms: ['EdDSA'], strategyName: 'jwks-query-suite' }), isGlobal: true }), QueryModule] });
  });
  afterAll(async () => {
    await app.close();
    await issuer.close();
  });

  it('reads the token where the extractor says and hands validate() the request and the claims', async () => {
    const http = request(app.getHttpServer());
    const token = issuer.sign({ sub: 'q' });
    const res = await http.get(`/query?access_token=${token}`).expect(200);
    expect(res.body).toMatchObject({ sub: 'q', via: 'query' });
    await http.get(`/query?access_token=${token}&deny=1`).expect(401);
    // The extractor reads the query only: a bearer header is no token to it.
    await http.get('/query').set('Authorization', `Bearer ${token}`).expect(401);
    await http.get(`/query?access_token=${issuer.sign({ exp: Math.floor(Date.now() / 1000) - 5 })}`).expect(401);
  });
});
