import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Test } from '@nestjs/testing';
import { ClientCredentialsModule, ClientCredentialsService, TokenEndpointError, TokenEndpointThrottledError, withClientCredentials } from 'nestjs-jwks-auth';
import { TestIssuer } from 'nestjs-jwks-auth/testing';

const CLIENT = { clientId: 'consumer-m2m', clientSecret: 'consumer-m2m-secret-0123456789' };
const AUDIENCE = 'https://downstream.example/';

/** The API this app calls: 401 for the first token it sees, 200 for every other. */
function downstream(): Promise<{ server: Server; url: string; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    seen.push(token);
    res.statusCode = seen.length === 1 ? 401 : 200;
    res.end(JSON.stringify({ ok: res.statusCode === 200 }));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/users`, seen })));
}

describe('outbound client-credentials tokens (the README example, against TestIssuer)', () => {
  it('caches the token, retries once after a 401, and fails fast with a typed error while throttled', async () => {
    const issuer = await TestIssuer.start();
    issuer.addClient(CLIENT);
    const api = await downstream();
    const moduleRef = await Test.createTestingModule({
      imports: [ClientCredentialsModule.forRoot({ tokenEndpoint: issuer.tokenEndpoint, ...CLIENT, audience: AUDIENCE, logging: false })],
    }).compile();
    const app = moduleRef.createNestApplication();
    await app.init();
    try {
      const tokens = app.get(ClientCredentialsService);
      const all = await Promise.all(Array.from({ length: 50 }, () => tokens.getToken()));
      expect(new Set(all).size).toBe(1);
      expect(issuer.tokenRequestCount).toBe(1);

      const call = withClientCredentials(tokens, { audience: AUDIENCE });
      const res = await call(api.url);
      expect(res.status).toBe(200);
      expect(api.seen).toHaveLength(2);
      expect(api.seen[0]).not.toBe(api.seen[1]);
      expect(issuer.tokenRequestCount).toBe(2);

      issuer.setTokenFault({ status: 429, headers: { 'retry-after': '120' }, body: { error: 'too_many_requests' } });
      const scoped = { audience: AUDIENCE, scope: 'read:users' };
      const first = await tokens.getToken(scoped).catch((e: unknown) => e);
      expect(first).toBeInstanceOf(TokenEndpointError);
      expect((first as TokenEndpointError).retryAt).toBeGreaterThan(Date.now() + 100_000);
      const next = await tokens.getToken(scoped).catch((e: unknown) => e);
      expect(next).toBeInstanceOf(TokenEndpointThrottledError);
      expect(issuer.tokenRequestCount).toBe(3);
      // The other audience's token is still served.
      expect(await tokens.getToken()).toBe(api.seen[1]);
    } finally {
      await app.close();
      api.server.close();
      await issuer.close();
    }
  });
});
