import { Controller, Get, UseGuards, type INestApplication } from '@nestjs/common';
import { AuthGuard } from '@nestjs/passport';
import request from 'supertest';
import { CurrentUser, JwksAuthModule, type JwtClaims } from '../../lib';
import { TestIssuer } from '../../lib/testing';
import { bootApp, issuerOptions } from '../fixtures/app';
import { rawGet } from '../fixtures/raw-http';
import type { AddressInfo } from 'node:net';

/** A user composing Passport strategies goes through `passport.authenticate` and `JwksStrategy`. */
@Controller('passport')
class PassportController {
  @UseGuards(AuthGuard('jwks'))
  @Get()
  me(@CurrentUser() claims: JwtClaims): JwtClaims {
    return claims;
  }
}

describe("JwksStrategy through Passport (AuthGuard('jwks'))", () => {
  let issuer: TestIssuer;
  let app: INestApplication;
  beforeAll(async () => {
    issuer = await TestIssuer.start();
    app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer))], controllers: [PassportController] });
  });
  afterAll(async () => {
    await app.close();
    await issuer.close();
  });

  it('accepts a valid token and sets request.user to the claims', async () => {
    const res = await request(app.getHttpServer()).get('/passport').set('Authorization', `Bearer ${issuer.sign({ sub: 'pp' })}`).expect(200);
    expect(res.body).toMatchObject({ sub: 'pp', iss: issuer.issuer });
  });

  it('refuses expired, foreign-audience, unsigned and unknown-kid tokens', async () => {
    const now = Math.floor(Date.now() / 1000);
    const http = request(app.getHttpServer());
    await http.get('/passport').expect(401);
    await http.get('/passport').set('Authorization', `Bearer ${issuer.sign({ exp: now - 5 })}`).expect(401);
    await http.get('/passport').set('Authorization', `Bearer ${issuer.sign({ aud: 'nope' })}`).expect(401);
    const [h, p] = issuer.sign().split('.');
    await http.get('/passport').set('Authorization', `Bearer ${h}.${p}.`).expect(401);
    await http.get('/passport').set('Authorization', `Bearer ${issuer.sign({}, { header: { kid: 'unknown' } })}`).expect(401);
  });

  it('refuses two Authorization headers, as the guard does', async () => {
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    const valid = issuer.sign({ sub: 'first' });
    const one = await rawGet(port, '/passport', [`Authorization: Bearer ${valid}`]);
    expect(one.status).toBe(200);
    const two = await rawGet(port, '/passport', [`Authorization: Bearer ${valid}`, `Authorization: Bearer ${issuer.sign({ sub: 'second' })}`]);
    expect(two.status).toBe(401);
  });
});
