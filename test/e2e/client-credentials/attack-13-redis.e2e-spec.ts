import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { RedisClientTokenStore } from '../../../lib/client-credentials/redis-client-token.store';
import { EncryptedClientTokenStore } from '../../../lib/client-credentials/encrypted-token.store';
import type { ClientCredentialsService } from '../../../lib/client-credentials/client-credentials.service';
import { FakeClock, TestIssuer } from '../../../lib/testing';
import { RedisServer } from '../../fixtures/redis-server';
import { CLIENT_ID, CLIENT_SECRET, serviceFor } from './fixtures';

const KEY = 'cc:attack13attack13attack13attack13attack1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('attack 13: client-credentials fleet on a real redis-server', () => {
  let server: RedisServer;
  let raw: Redis;
  let issuer: TestIssuer;
  let clock: FakeClock;
  const stores: RedisClientTokenStore[] = [];
  const services: ClientCredentialsService[] = [];
  const log = { warn: () => undefined, error: () => undefined, log: () => undefined };
  const newStore = () => {
    const s = new RedisClientTokenStore({ redis: server.url, log, now: () => clock.now() });
    stores.push(s);
    return s;
  };

  beforeAll(async () => {
    server = await RedisServer.start();
    raw = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    raw.on('error', () => undefined);
    await raw.connect();
  });
  afterAll(async () => {
    raw.disconnect();
    await server.stop();
  });
  beforeEach(async () => {
    await raw.flushall();
    clock = new FakeClock(Date.now());
    issuer = await TestIssuer.start({ clock });
    issuer.addClient({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, tokenLifetimeSeconds: 3600 });
  });
  afterEach(async () => {
    server.unpause();
    for (const s of services.splice(0)) s.close();
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await issuer.close();
  });

  it('a lease planted with a year-long expiry lapses within the lease ttl the fleet uses', async () => {
    await raw.set(`jwks-auth:${KEY}:lease`, 'planted', 'PX', 365 * 86_400_000);
    const store = newStore();
    expect(await store.lease(KEY, 300)).toBeNull();
    await sleep(450);
    expect(await store.lease(KEY, 300)).not.toBeNull();
  });

  it('Redis frozen (SIGSTOP) while the token request is under way: the caller still gets its token, promptly, with one request', async () => {
    let release: (() => void) | null = null;
    const slow: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        release = () => {
          void fetch(issuer.tokenEndpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.concat(chunks).toString() }).then(async (r) => {
            res.writeHead(r.status, { 'content-type': 'application/json' });
            res.end(await r.text());
          });
        };
      });
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/oauth/token`;
      const store = new EncryptedClientTokenStore(newStore(), 'b'.repeat(64));
      const { service } = serviceFor(issuer, clock, { tokenEndpoint: url }, store);
      services.push(service);
      const pending = service.getToken();
      while (release === null) await sleep(5);
      server.pause();
      const started = Date.now();
      (release as () => void)();
      const token = await pending;
      expect(typeof token).toBe('string');
      expect(Date.now() - started).toBeLessThan(2_500);
      expect(issuer.tokenRequestCount).toBe(1);
      // Served from memory while Redis stays frozen: no further request, no wait.
      const again = Date.now();
      expect(await service.getToken()).toBe(token);
      expect(Date.now() - again).toBeLessThan(50);
    } finally {
      server.unpause();
      slow.closeAllConnections();
      await new Promise<void>((resolve) => slow.close(() => resolve()));
    }
  });
});
