import { Redis } from 'ioredis';
import { TestIssuer } from '../../../lib/testing';
import { CLIENT_CREDENTIALS_MEMBER } from '../../fixtures/fleet/fleet.constants';
import { FleetProcess } from '../../fixtures/fleet/fleet-process';
import { RedisServer } from '../../fixtures/redis-server';

/**
 * Client-credentials tokens shared by a fleet: four Nest apps in their own `node` processes
 * (ClientCredentialsModule with `fleet: { redis }`), one redis-server, the TestIssuer's token
 * endpoint in this process counting requests. Tokens live 20 s here, so a refresh-ahead (at 80 %
 * of the usable life: 8 s) happens within the test; every assertion is a count at a deadline.
 *
 * `CC_FLEET_E2E_WITHOUT_FLEET=1` leaves `fleet` out: four independent caches, and the counts fail.
 */
const WITH_FLEET = !process.env.CC_FLEET_E2E_WITHOUT_FLEET;
const MEMBERS = 4;
const LIFETIME_S = 20;
const CLIENT = { clientId: 'fleet-m2m', clientSecret: 'fleet-m2m-secret-0123456789' };
const AUDIENCE = 'https://api.internal.example/';
const ENCRYPTION_KEY = 'a'.repeat(64);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe(`client-credentials tokens across ${MEMBERS} processes ${WITH_FLEET ? 'sharing Redis' : 'WITHOUT the fleet option'}`, () => {
  let redis: RedisServer;
  let raw: Redis;
  let issuer: TestIssuer;
  let members: FleetProcess[] = [];
  let prefix: string;

  beforeAll(async () => {
    redis = await RedisServer.start();
    raw = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    raw.on('error', () => undefined);
    await raw.connect();
    await FleetProcess.warmCache();
  }, 60_000);
  afterAll(async () => {
    raw.disconnect();
    await redis.stop();
  });
  beforeEach(async () => {
    issuer = await TestIssuer.start();
    issuer.addClient({ ...CLIENT, tokenLifetimeSeconds: LIFETIME_S });
    prefix = `cc-e2e-${Date.now()}:`;
    members = await FleetProcess.startMany(MEMBERS, {
      issuer: issuer.issuer,
      jwksUri: issuer.jwksUri,
      audience: issuer.audience,
      [CLIENT_CREDENTIALS_MEMBER]: {
        tokenEndpoint: issuer.tokenEndpoint,
        ...CLIENT,
        audience: AUDIENCE,
        encryptionKey: ENCRYPTION_KEY,
        ...(WITH_FLEET ? { fleet: { redis: redis.url, keyPrefix: prefix } } : {}),
      },
    });
  }, 60_000);
  afterEach(async () => {
    await Promise.all(members.map((m) => m.kill()));
    await issuer.close();
  });

  /** Every member asks for its token `rounds` times, `every` ms apart; returns the tokens seen. */
  async function callAll(rounds: number, every: number): Promise<Set<string>> {
    const seen = new Set<string>();
    for (let r = 0; r < rounds; r++) {
      const answers = await Promise.all(members.map((m) => m.get('/cc/token')));
      for (const a of answers) {
        expect(a.status).toBe(200);
        seen.add((a.body as { accessToken: string }).accessToken);
      }
      await sleep(every);
    }
    return seen;
  }

  it('cold start: 4 processes × 50 concurrent callers, one token request; the token in Redis only while it lives, encrypted', async () => {
    const answers = await Promise.all(members.flatMap((m) => Array.from({ length: 50 }, () => m.get('/cc/token'))));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const tokens = new Set(answers.map((a) => (a.body as { accessToken: string }).accessToken));
    expect(issuer.tokenRequestCount).toBe(1);
    expect(tokens.size).toBe(1);
    const keys = await raw.keys(`${prefix}*:token`);
    expect(keys).toHaveLength(1);
    const pttl = await raw.pttl(keys[0]);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(LIFETIME_S * 1000);
    const stored = (await raw.get(keys[0])) ?? '';
    expect(stored).not.toContain([...tokens][0]);
    expect(stored).not.toContain(CLIENT.clientSecret);
  });

  it('one request per refresh for the whole fleet, ahead of expiry, while every process keeps calling', async () => {
    const first = await callAll(1, 0);
    expect(issuer.tokenRequestCount).toBe(1);
    // Past the refresh-ahead point (8 s) and short of expiry (20 s): one background refresh.
    const seen = await callAll(24, 500);
    expect(issuer.tokenRequestCount).toBe(2);
    expect(seen.size).toBe(2);
    expect([...seen]).toEqual(expect.arrayContaining([...first]));
    // Every process moved to the new token (no one kept asking for its own).
    const now = await Promise.all(members.map((m) => m.get('/cc/token')));
    expect(new Set(now.map((a) => (a.body as { accessToken: string }).accessToken)).size).toBe(1);
  }, 30_000);

  it("a 429 on the refresh holds every process back until its Retry-After; the valid token is served meanwhile", async () => {
    await callAll(1, 0);
    expect(issuer.tokenRequestCount).toBe(1);
    issuer.setTokenFault({ status: 429, headers: { 'retry-after': '4' }, body: { error: 'too_many_requests' } });
    // Until the refresh-ahead point (8 s): one process asks, meets the 429, and the gate is shared.
    const deadline = Date.now() + 15_000;
    while (issuer.tokenRequestCount < 2 && Date.now() < deadline) await callAll(1, 200);
    const throttledAt = Date.now();
    expect(issuer.tokenRequests.map((r) => r.outcome)).toEqual(['ok', 'fault']);
    // Inside the Retry-After: every process keeps serving the valid token, and nobody asks.
    const served = await callAll(6, 400);
    expect(served.size).toBe(1);
    expect(Date.now() - throttledAt).toBeLessThan(4_000);
    expect(issuer.tokenRequestCount).toBe(2);
    issuer.clearTokenFault();
    // After it, one request for the fleet, and the new token everywhere.
    while (issuer.tokenRequestCount < 3 && Date.now() < throttledAt + 12_000) await callAll(1, 200);
    await callAll(5, 200);
    expect(issuer.tokenRequestCount).toBe(3);
    const now = await Promise.all(members.map((m) => m.get('/cc/token')));
    expect(new Set(now.map((a) => (a.body as { accessToken: string }).accessToken)).size).toBe(1);
  }, 40_000);
});

describe('ClientCredentialsModule with fleet, in one app', () => {
  it('opens its Redis connections on first use and closes them with the app', async () => {
    const { Test } = await import('@nestjs/testing');
    const { ClientCredentialsModule, ClientCredentialsService } = await import('../../../lib');
    const redis = await RedisServer.start();
    const raw = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    raw.on('error', () => undefined);
    const issuer = await TestIssuer.start();
    issuer.addClient(CLIENT);
    try {
      const clients = async () => String(await raw.call('CLIENT', 'LIST')).trim().split('\n').length;
      const baseline = await clients();
      const moduleRef = await Test.createTestingModule({
        imports: [ClientCredentialsModule.forRoot({ tokenEndpoint: issuer.tokenEndpoint, ...CLIENT, audience: AUDIENCE, fleet: { redis: redis.url }, logging: false })],
      }).compile();
      const app = moduleRef.createNestApplication({ logger: false });
      await app.init();
      const token = await app.get(ClientCredentialsService).getToken();
      expect(token.length).toBeGreaterThan(0);
      expect(await raw.keys('jwks-auth:cc:*:token')).toHaveLength(1);
      expect(await clients()).toBeGreaterThan(baseline);
      await app.close();
      const deadline = Date.now() + 2_000;
      while ((await clients()) > baseline && Date.now() < deadline) await sleep(25);
      expect(await clients()).toBe(baseline);
    } finally {
      raw.disconnect();
      await issuer.close();
      await redis.stop();
    }
  });
});
