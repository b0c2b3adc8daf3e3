import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { jest } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { JwksAuthGuard, JwksAuthModule } from '../../lib';
import { TestIssuer } from '../../lib/testing';
import { bootApp, issuerOptions, HTTP_PLATFORMS } from '../fixtures/app';
import { rawGet } from '../fixtures/raw-http';

/** The codes the guard refused with, in order (read from what it hands to `handleRequest`). */
function refusalCodes(spy: { mock: { calls: unknown[][] } }): string[] {
  return spy.mock.calls.map(([err]) => (err as { code?: string } | null)?.code ?? 'none');
}

describe.each(HTTP_PLATFORMS)('the Authorization header over real HTTP (%s)', (platform) => {
  let issuer: TestIssuer;
  let app: INestApplication;
  let port: number;

  beforeAll(async () => {
    issuer = await TestIssuer.start();
    app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer))] }, { platform });
    await app.listen(0, '127.0.0.1');
    port = ((app.getHttpServer() as Server).address() as AddressInfo).port;
  });
  afterAll(async () => {
    await app.close();
    await issuer.close();
  });

  describe('sent more than once (RFC 9110 §5.3: Authorization is a singleton field)', () => {
    let spy: ReturnType<typeof jest.spyOn>;
    beforeEach(() => {
      spy = jest.spyOn(JwksAuthGuard.prototype, 'handleRequest');
    });
    afterEach(() => spy.mockRestore());

    it('is refused as malformed, even when the first one is a valid token (Node keeps only the first)', async () => {
      const alice = issuer.sign({ sub: 'alice' });
      const bob = issuer.sign({ sub: 'bob' });
      const res = await rawGet(port, '/me', [`Authorization: Bearer ${alice}`, `Authorization: Bearer ${bob}`]);
      expect(res.status).toBe(401);
      expect(res.header('www-authenticate')).toBe('Bearer error="invalid_token"');
      expect(res.body).not.toContain('alice');
      expect(refusalCodes(spy)).toEqual(['ERR_JWT_MALFORMED']);
    });

    it('is refused whatever the casing of the names and whatever the second value', async () => {
      const alice = issuer.sign({ sub: 'alice' });
      for (const lines of [
        [`authorization: Bearer ${alice}`, `AUTHORIZATION: Bearer ${alice}`],
        [`Authorization: Bearer ${alice}`, 'X-Other: 1', 'authorization: Basic dXNlcjpwYXNz'],
        [`Authorization: Bearer ${alice}`, 'Authorization: '],
        [`Authorization: Bearer ${alice}`, `Authorization: Bearer ${alice}`, `Authorization: Bearer ${alice}`],
      ]) {
        expect((await rawGet(port, '/me', lines)).status).toBe(401);
      }
      expect(refusalCodes(spy)).toEqual(Array(4).fill('ERR_JWT_MALFORMED'));
    });

    it('still lets one Authorization header through beside other repeated headers', async () => {
      const alice = issuer.sign({ sub: 'alice' });
      const res = await rawGet(port, '/me', ['Accept: application/json', 'Accept: text/plain', `authorization: Bearer ${alice}`]);
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toMatchObject({ sub: 'alice' });
    });
  });

  describe('WWW-Authenticate challenge (RFC 6750 §3.1)', () => {
    const http = () => request(app.getHttpServer());

    it('has no error code when the request carries no bearer token at all', async () => {
      const none = await http().get('/me').expect(401);
      expect(none.headers['www-authenticate']).toBe('Bearer');
      // Another scheme is "an unsupported authentication method": no bearer token was presented either.
      const basic = await http().get('/me').set('Authorization', 'Basic dXNlcjpwYXNz').expect(401);
      expect(basic.headers['www-authenticate']).toBe('Bearer');
      const empty = await rawGet(port, '/me', ['Authorization: ']);
      expect([empty.status, empty.header('www-authenticate')]).toEqual([401, 'Bearer']);
    });

    it('says invalid_token when a bearer token was presented and refused', async () => {
      for (const authorization of ['Bearer', 'Bearer ', 'bearer not-a-jwt', 'Bearer a b', `Bearer ${issuer.sign({ exp: Math.floor(Date.now() / 1000) - 10 })}`]) {
        const res = await http().get('/me').set('Authorization', authorization);
        expect({ authorization, status: res.status, challenge: res.headers['www-authenticate'] }).toEqual({
          authorization,
          status: 401,
          challenge: 'Bearer error="invalid_token"',
        });
      }
    });
  });
});
