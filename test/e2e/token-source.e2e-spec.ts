import type { AddressInfo } from 'node:net';
import { createServer, type RequestListener, type Server } from 'node:http';
import { jest } from '@jest/globals';
import { Logger, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { ExtractJwt } from 'passport-jwt';
import { JWKS_DEFAULTS, JwksAuthGuard, JwksAuthModule, type JwksAuthModuleOptions } from '../../lib';
import { TestIssuer } from '../../lib/testing';
import { bootApp, issuerOptions } from '../fixtures/app';
import { rawGet } from '../fixtures/raw-http';

/** The codes the guard refused with, in order (read from what it hands to `handleRequest`). */
function refusalCodes(spy: { mock: { calls: unknown[][] } }): string[] {
  return spy.mock.calls.map(([err]) => (err as { code?: string } | null)?.code ?? 'none');
}

describe('the token option over real HTTP', () => {
  let issuer: TestIssuer;
  let spy: ReturnType<typeof jest.spyOn>;
  const apps: INestApplication[] = [];

  async function boot(token: JwksAuthModuleOptions['token'], extra: Partial<JwksAuthModuleOptions> = {}): Promise<{ app: INestApplication; port: number }> {
    const app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { token, ...extra }))] });
    await app.listen(0, '127.0.0.1');
    apps.push(app);
    return { app, port: ((app.getHttpServer() as Server).address() as AddressInfo).port };
  }

  /**
   * The app behind a server that takes headers far above Node's default 16 KiB, as a server
   * started with a raised `maxHeaderSize` does: only there does our own scan limit show.
   */
  async function bigHeaderPort(app: INestApplication): Promise<number> {
    const server = createServer({ maxHeaderSize: 1024 * 1024 }, app.getHttpAdapter().getInstance() as RequestListener);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    return (server.address() as AddressInfo).port;
  }
  const servers: Server[] = [];

  beforeAll(async () => {
    issuer = await TestIssuer.start();
  });
  afterAll(async () => {
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
    for (const app of apps) await app.close();
    await issuer.close();
  });
  beforeEach(() => {
    spy = jest.spyOn(JwksAuthGuard.prototype, 'handleRequest');
  });
  afterEach(() => spy.mockRestore());

  describe("{ from: 'header', name: 'x-api-token' } (raw value)", () => {
    let app: INestApplication;
    let port: number;
    beforeAll(async () => ({ app, port } = await boot({ from: 'header', name: 'X-Api-Token' })));

    it('reads the whole header value, and no longer the Authorization header', async () => {
      const res = await request(app.getHttpServer()).get('/me').set('X-Api-Token', issuer.sign({ sub: 'alice' })).expect(200);
      expect(res.body).toMatchObject({ sub: 'alice' });
      const other = await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${issuer.sign()}`).expect(401);
      expect(other.headers['www-authenticate']).toBe('Bearer');
      expect(refusalCodes(spy)).toEqual(['none', 'ERR_JWT_MISSING']);
    });

    it('refuses the header sent twice (Node would join both values into one)', async () => {
      const alice = issuer.sign({ sub: 'alice' });
      const res = await rawGet(port, '/me', [`X-Api-Token: ${alice}`, `x-api-token: ${issuer.sign({ sub: 'bob' })}`]);
      expect(res.status).toBe(401);
      expect(res.header('www-authenticate')).toBe('Bearer error="invalid_token"');
      expect(refusalCodes(spy)).toEqual(['ERR_JWT_MALFORMED']);
    });

    it('answers an empty header as no token', async () => {
      const res = await rawGet(port, '/me', ['X-Api-Token: ']);
      expect([res.status, res.header('www-authenticate')]).toEqual([401, 'Bearer']);
    });
  });

  describe("{ from: 'header', name, scheme: 'Bearer' }", () => {
    it('reads "Bearer <token>" from the named header and refuses another scheme as no token', async () => {
      const { app } = await boot({ from: 'header', name: 'x-forwarded-authorization', scheme: 'Bearer' });
      await request(app.getHttpServer()).get('/me').set('X-Forwarded-Authorization', `Bearer ${issuer.sign()}`).expect(200);
      const raw = await request(app.getHttpServer()).get('/me').set('X-Forwarded-Authorization', issuer.sign()).expect(401);
      expect(raw.headers['www-authenticate']).toBe('Bearer');
    });
  });

  describe("{ from: 'cookie', name: 'access_token' } without cookie-parser", () => {
    let app: INestApplication;
    let port: number;
    beforeAll(async () => ({ app, port } = await boot({ from: 'cookie', name: 'access_token' })));

    it('reads the cookie among others, quoted or not', async () => {
      const token = issuer.sign({ sub: 'carol' });
      const res = await request(app.getHttpServer()).get('/me').set('Cookie', `theme=dark; access_token=${token}; lang=en`).expect(200);
      expect(res.body).toMatchObject({ sub: 'carol' });
      await request(app.getHttpServer()).get('/me').set('Cookie', `access_token="${token}"`).expect(200);
      // A name that merely ends or starts like ours is another cookie.
      const near = await request(app.getHttpServer()).get('/me').set('Cookie', `my_access_token=${token}; access_token_old=${token}`).expect(401);
      expect(near.headers['www-authenticate']).toBe('Bearer');
    });

    it('refuses the cookie sent twice, in one header or in two (cookie tossing)', async () => {
      const token = issuer.sign();
      await request(app.getHttpServer()).get('/me').set('Cookie', `access_token=${token}; access_token=${token}`).expect(401);
      const two = await rawGet(port, '/me', [`Cookie: access_token=${token}`, `Cookie: access_token=${issuer.sign({ sub: 'mallory' })}`]);
      expect(two.status).toBe(401);
      expect(refusalCodes(spy)).toEqual(['ERR_JWT_MALFORMED', 'ERR_JWT_MALFORMED']);
    });

    it('refuses a huge Cookie header without reading it, and stays linear on hostile ones', async () => {
      const big = await bigHeaderPort(app);
      const token = issuer.sign();
      const pad = 'a=b; '.repeat(Math.ceil(JWKS_DEFAULTS.maxTokenSourceScanBytes / 5));
      // Just under the limit it is read; over it, refused as malformed even with a valid token in it.
      const under = pad.slice(0, JWKS_DEFAULTS.maxTokenSourceScanBytes - token.length - 20);
      expect((await rawGet(big, '/me', [`Cookie: ${under}; access_token=${token}`])).status).toBe(200);
      expect((await rawGet(big, '/me', [`Cookie: ${pad}access_token=${token}`])).status).toBe(401);
      const hostile = [';'.repeat(30_000), `${'access_token'.repeat(2_500)}=`, '=;'.repeat(15_000), ' '.repeat(30_000), 'access_token', 'access_token=', 'access_token ;x=1', '"'];
      for (const cookie of hostile) {
        const started = process.hrtime.bigint();
        const r = await rawGet(big, '/me', [`Cookie: ${cookie}`]);
        expect([r.status, Number(process.hrtime.bigint() - started) / 1e6 < 200]).toEqual([401, true]);
      }
      expect(refusalCodes(spy)).toEqual(['none', 'ERR_JWT_MALFORMED', ...Array(hostile.length).fill('ERR_JWT_MISSING')]);
    });

    it('reads request.cookies when there is no Cookie header (a cookie middleware ran), and refuses a non-string', async () => {
      const guard = app.get(JwksAuthGuard);
      const read = (req: unknown): string => (guard as unknown as { extractToken(r: unknown): string }).extractToken(req);
      expect(read({ headers: {}, cookies: { access_token: 'a.b.c' } })).toBe('a.b.c');
      expect(() => read({ headers: {}, cookies: { access_token: { j: 1 } } })).toThrow(expect.objectContaining({ code: 'ERR_JWT_MALFORMED' }));
      expect(() => read({ headers: {}, cookies: Object.create({ access_token: 'inherited' }) })).toThrow(expect.objectContaining({ code: 'ERR_JWT_MISSING' }));
    });
  });

  describe("{ from: 'query', name: 'access_token' }", () => {
    let app: INestApplication;
    let port: number;
    beforeAll(async () => ({ app, port } = await boot({ from: 'query', name: 'access_token' })));

    it('reads the parameter, percent-encoded or not', async () => {
      const token = issuer.sign({ sub: 'dave' });
      const res = await request(app.getHttpServer()).get(`/me?x=1&access_token=${token}`).expect(200);
      expect(res.body).toMatchObject({ sub: 'dave' });
      await request(app.getHttpServer()).get(`/me?access_token=${encodeURIComponent(token).replace(/\./g, '%2E')}`).expect(200);
      const none = await request(app.getHttpServer()).get(`/me?access_tokens=${token}`).expect(401);
      expect(none.headers['www-authenticate']).toBe('Bearer');
    });

    it('refuses a repeated, array-like, malformed or huge parameter with 401, never 500', async () => {
      const token = issuer.sign();
      const big = await bigHeaderPort(app);
      for (const query of [`access_token=${token}&access_token=${token}`, `access_token=%E0%A4%A`, `access_token=${token}&${'x=1&'.repeat(9_000)}`]) {
        expect((await rawGet(big, `/me?${query}`, [])).status).toBe(401);
      }
      // qs would make these an object or array; read raw, they are simply other names.
      for (const query of [`access_token[a]=${token}`, `access_token[]=${token}`]) {
        const res = await rawGet(port, `/me?${query}`, []);
        expect([res.status, res.header('www-authenticate')]).toEqual([401, 'Bearer']);
      }
      expect(refusalCodes(spy)).toEqual(['ERR_JWT_MALFORMED', 'ERR_JWT_MALFORMED', 'ERR_JWT_MALFORMED', 'ERR_JWT_MISSING', 'ERR_JWT_MISSING']);
    });
  });

  describe('a function', () => {
    it("accepts passport-jwt's ExtractJwt extractors as they are", async () => {
      const { app } = await boot(ExtractJwt.fromUrlQueryParameter('t'));
      await request(app.getHttpServer()).get(`/me?t=${issuer.sign({ sub: 'erin' })}`).expect(200);
      const none = await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${issuer.sign()}`).expect(401);
      expect(none.headers['www-authenticate']).toBe('Bearer');
      const { app: fromHeader } = await boot(ExtractJwt.fromAuthHeaderWithScheme('JWT'));
      await request(fromHeader.getHttpServer()).get('/me').set('Authorization', `JWT ${issuer.sign()}`).expect(200);
    });

    it('answers 401 when it throws or returns no string, and logs a throw at error level by name', async () => {
      const results: unknown[] = [null, undefined, '', 42, { token: 'x' }, Promise.resolve('x')];
      let next = 0;
      const { app } = await boot((req: { headers: Record<string, string> }) => {
        if (req.headers['x-throw']) throw new RangeError(`secret ${req.headers['x-throw']}`);
        return results[next++] as string;
      });
      const errors = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
      const thrown = await request(app.getHttpServer()).get('/me').set('x-throw', 'hunter2').expect(401);
      expect(thrown.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
      expect(errors).toHaveBeenCalledTimes(1);
      expect(String(errors.mock.calls[0][0])).toContain('RangeError');
      expect(String(errors.mock.calls[0][0])).not.toContain('hunter2');
      const challenges: string[] = [];
      for (let i = 0; i < results.length; i++) challenges.push((await request(app.getHttpServer()).get('/me').expect(401)).headers['www-authenticate']);
      expect(challenges).toEqual(['Bearer', 'Bearer', 'Bearer', ...Array(3).fill('Bearer error="invalid_token"')]);
      expect(refusalCodes(spy)).toEqual(['ERR_JWT_MALFORMED', ...Array(3).fill('ERR_JWT_MISSING'), ...Array(3).fill('ERR_JWT_MALFORMED')]);
      errors.mockRestore();
    });
  });

  describe('with globalGuard', () => {
    it('reads the configured source on routes without @UseGuards', async () => {
      const { app } = await boot({ from: 'cookie', name: 'at' }, { globalGuard: true });
      await request(app.getHttpServer()).get('/unguarded').set('Cookie', `at=${issuer.sign()}`).expect(200);
      const res = await request(app.getHttpServer()).get('/unguarded').set('Authorization', `Bearer ${issuer.sign()}`).expect(401);
      expect(res.headers['www-authenticate']).toBe('Bearer');
      await request(app.getHttpServer()).get('/public').expect(200);
    });
  });

  describe('the default ({ from: "header" } spelt out)', () => {
    it('is still the Authorization bearer token, sent once', async () => {
      const { app, port } = await boot({ from: 'header' });
      await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${issuer.sign()}`).expect(200);
      const twice = await rawGet(port, '/me', [`Authorization: Bearer ${issuer.sign()}`, `Authorization: Bearer ${issuer.sign()}`]);
      expect(twice.status).toBe(401);
      expect((await request(app.getHttpServer()).get('/me').expect(401)).headers['www-authenticate']).toBe('Bearer');
    });
  });
});
