import { randomUUID } from 'node:crypto';
import { Controller, Get, Injectable, Module, UseGuards, type INestApplication } from '@nestjs/common';
import { AuthGuard, PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy } from 'passport-jwt';
import jsonwebtoken from 'jsonwebtoken';
import request from 'supertest';
import { JwksArgumentError, JwksAuthModule, JwksCacheService, KeyCoolingDownError, KeyNotFoundError, type JwksSigningKey } from '../../lib';
import { FakeClock, TestIssuer } from '../../lib/testing';
import { bootApp, issuerOptions } from '../fixtures/app';

/**
 * Auth0's NestJS quickstart strategy, as published, but for two lines: the constructor injects
 * `JwksCacheService`, and `passportJwtSecret` is its method instead of jwks-rsa's import.
 */
@Injectable()
class JwtStrategy extends PassportStrategy(Strategy) {
  constructor(jwks: JwksCacheService) {
    super({
      secretOrKeyProvider: jwks.passportJwtSecret({
        cache: true,
        rateLimit: true,
        jwksRequestsPerMinute: 5,
        jwksUri: `${process.env.AUTH0_ISSUER_URL}.well-known/jwks.json`,
      }),

      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      audience: process.env.AUTH0_AUDIENCE,
      issuer: `${process.env.AUTH0_ISSUER_URL}`,
      algorithms: ['RS256'],
    });
  }

  validate(payload: unknown): unknown {
    return payload;
  }
}

@Controller('messages')
class MessagesController {
  @UseGuards(AuthGuard('jwt'))
  @Get('protected')
  protectedMessage(): { text: string } {
    return { text: 'This is a protected message.' };
  }
}

@Module({ providers: [JwtStrategy], controllers: [MessagesController] })
class AuthzModule {}

const COOLDOWN_MS = 30_000;

describe('the passport-jwt + jwks-rsa recipe on passportJwtSecret(), over HTTP', () => {
  let issuer: TestIssuer;
  let app: INestApplication;
  let clock: FakeClock;
  const bearer = (token: string) => `Bearer ${token}`;

  beforeAll(async () => {
    clock = new FakeClock(Date.now());
    issuer = await TestIssuer.start();
    process.env.AUTH0_ISSUER_URL = issuer.issuer;
    process.env.AUTH0_AUDIENCE = issuer.audience;
    app = await bootApp(
      { imports: [JwksAuthModule.forRoot({ ...issuerOptions(issuer, { cache: { cooldownMs: COOLDOWN_MS } }), isGlobal: true }), AuthzModule] },
      { clock },
    );
  });
  afterAll(async () => {
    await app.close();
    await issuer.close();
    delete process.env.AUTH0_ISSUER_URL;
    delete process.env.AUTH0_AUDIENCE;
  });

  it("accepts the IdP's token; jsonwebtoken still checks the recipe's audience and issuer", async () => {
    const http = request(app.getHttpServer());
    await http.get('/messages/protected').set('Authorization', bearer(issuer.sign({ sub: 'u1' }))).expect(200, { text: 'This is a protected message.' });
    await http.get('/messages/protected').set('Authorization', bearer(issuer.sign({ aud: 'https://other.example' }))).expect(401);
    await http.get('/messages/protected').expect(401);
  });

  it('refuses a token naming an issuer that is not configured, without a fetch', async () => {
    issuer.resetCounts();
    const foreign = issuer.sign({ iss: 'https://evil.example/' });
    await request(app.getHttpServer()).get('/messages/protected').set('Authorization', bearer(foreign)).expect(401);
    expect(issuer.requestCount).toBe(0);
  });

  it('follows a key rotation without a restart: one refetch, the new kid verifies', async () => {
    issuer.resetCounts();
    issuer.rotate();
    await request(app.getHttpServer()).get('/messages/protected').set('Authorization', bearer(issuer.sign({ sub: 'rotated' }))).expect(200);
    expect(issuer.requestCount).toBe(1);
  });

  it('holds a flood of unknown kids to one JWKS request per cooldown', async () => {
    await clock.advance(COOLDOWN_MS + 1);
    issuer.resetCounts();
    const http = request(app.getHttpServer());
    const flood = Array.from({ length: 40 }, () => issuer.sign({}, { header: { kid: randomUUID() } }));
    const statuses = await Promise.all(flood.map(async (t) => (await http.get('/messages/protected').set('Authorization', bearer(t))).status));
    expect(statuses.every((s) => s === 401)).toBe(true);
    // jwks-rsa's rateLimit (5 a minute) would have let five through; our cooldown lets one.
    expect(issuer.requestCount).toBe(1);
    // Valid tokens still verify from the held set throughout.
    await http.get('/messages/protected').set('Authorization', bearer(issuer.sign({ sub: 'still' }))).expect(200);
    expect(issuer.requestCount).toBe(1);
  });

  it('refuses, at construction, options that would fetch keys from elsewhere', () => {
    const jwks = app.get(JwksCacheService);
    expect(() => jwks.passportJwtSecret({ jwksUri: 'https://tenant.auth0.com/.well-known/jwks.json' })).toThrow(/not the jwksUri of a configured issuer/);
    expect(() => jwks.passportJwtSecret({ jwksRequestPerMinute: 5 } as never)).toThrow(/did you mean "jwksRequestsPerMinute"/);
    expect(() => jwks.passportJwtSecret({ fetcher: async () => ({ keys: [] }) } as never)).toThrow(JwksArgumentError);
  });
});

describe("jwksClient(): jwks-rsa's JwksClient on the module's cache, against a real issuer", () => {
  let issuer: TestIssuer;
  let app: INestApplication;
  beforeAll(async () => {
    issuer = await TestIssuer.start();
    app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { strategyName: 'jwks-client-suite' }))] });
  });
  afterAll(async () => {
    await app.close();
    await issuer.close();
  });

  it("gives the published key as PEM that verifies the issuer's tokens, in promise and callback form", async () => {
    const client = app.get(JwksCacheService).jwksClient({ cache: true, rateLimit: true, jwksUri: issuer.jwksUri });
    const key = await client.getSigningKey(issuer.kid);
    expect(key).toMatchObject({ kid: issuer.kid, alg: 'RS256' });
    expect(key.getPublicKey()).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const claims = jsonwebtoken.verify(issuer.sign({ sub: 'pem' }), key.publicKey || key.rsaPublicKey, { algorithms: ['RS256'] });
    expect(claims).toMatchObject({ sub: 'pem' });

    const viaCallback = await new Promise<JwksSigningKey | undefined>((resolve, reject) => client.getSigningKey(issuer.kid, (err, k) => (err ? reject(err) : resolve(k))));
    expect(viaCallback?.getPublicKey()).toBe(key.getPublicKey());
    // Without a kid, the only key of the set.
    expect((await client.getSigningKey()).kid).toBe(issuer.kid);
  });

  it('lists every key, refetches once for an unknown kid, then cools down', async () => {
    const client = app.get(JwksCacheService).jwksClient();
    const second = issuer.addKey();
    issuer.resetCounts();
    // The new kid is unknown to the held set: one refetch finds it.
    expect((await client.getSigningKey(second)).kid).toBe(second);
    expect(issuer.requestCount).toBe(1);
    expect((await client.getSigningKeys()).map((k) => k.kid).sort()).toEqual(issuer.publishedKids().sort());
    await expect(client.getSigningKey()).rejects.toThrow(KeyNotFoundError);
    const err = await new Promise<Error | null>((resolve) => client.getSigningKey('never-published', (e) => resolve(e)));
    expect(err).toBeInstanceOf(KeyCoolingDownError);
    expect(issuer.requestCount).toBe(1);
  });

  it('refuses an issuer or jwksUri that is not configured', () => {
    const jwks = app.get(JwksCacheService);
    expect(() => jwks.jwksClient({ issuer: 'https://other.example/' })).toThrow(/not a configured issuer/);
    expect(() => jwks.jwksClient({ jwksUri: 'https://other.example/jwks' })).toThrow(/not the jwksUri of a configured issuer/);
  });
});
