import { TokenEndpointThrottledError } from '../../../lib';
import { MemoryClientTokenStore, type ClientTokenStore } from '../../../lib/client-credentials/client-token.store';
import { EncryptedClientTokenStore } from '../../../lib/client-credentials/encrypted-token.store';
import type { ClientCredentialsService } from '../../../lib/client-credentials/client-credentials.service';
import { createHash } from 'node:crypto';
import { CLIENT_CREDENTIALS_DEFAULTS, clientTokenLeaseTtlMs } from '../../../lib/jwks-auth.constants';
import { FakeClock, TestIssuer } from '../../../lib/testing';
import { API, CLIENT_ID, CLIENT_SECRET, eventually, rejection, serviceFor } from './fixtures';

const MIN = 60_000;

/**
 * Several service instances (as several processes would) sharing one store that has a lease and
 * pushes writes, as the Redis store will: one token request per refresh for the whole fleet.
 */
describe.each([
  ['a shared in-memory store', (clock: FakeClock): ClientTokenStore => new MemoryClientTokenStore(() => clock.now())],
  ['the same store, encrypted', (clock: FakeClock): ClientTokenStore => new EncryptedClientTokenStore(new MemoryClientTokenStore(() => clock.now()), 'a'.repeat(64))],
])('four instances sharing %s', (_name, makeStore) => {
  let issuer: TestIssuer;
  let clock: FakeClock;
  let fleet: ClientCredentialsService[];

  beforeEach(async () => {
    clock = new FakeClock(Date.now());
    issuer = await TestIssuer.start({ clock });
    issuer.addClient({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, tokenLifetimeSeconds: 3600 });
    const store = makeStore(clock);
    fleet = Array.from({ length: 4 }, () => serviceFor(issuer, clock, {}, store).service);
  });
  afterEach(async () => {
    for (const s of fleet) s.close();
    await issuer.close();
  });

  it('send one token request for 4 × 250 concurrent callers, and all get the same token', async () => {
    const tokens = await Promise.all(fleet.flatMap((s) => Array.from({ length: 250 }, () => s.getToken())));
    expect(new Set(tokens).size).toBe(1);
    expect(issuer.tokenRequestCount).toBe(1);
  });

  it('send one request per background refresh, and every instance takes the new token', async () => {
    const first = await fleet[0].getToken();
    await Promise.all(fleet.map((s) => s.getToken()));
    expect(issuer.tokenRequestCount).toBe(1);
    await clock.advance(44 * MIN + 1);
    await eventually(() => issuer.tokenRequestCount === 2);
    await eventually(async () => (await Promise.all(fleet.map((s) => s.getToken()))).every((t) => t !== first));
    await clock.advance(10 * MIN);
    expect(issuer.tokenRequestCount).toBe(2);
    expect(new Set(await Promise.all(fleet.map((s) => s.getToken()))).size).toBe(1);
  });

  it('share the throttle gate: after one instance is told to wait, no instance asks before the time', async () => {
    issuer.queueTokenFaults({ status: 429, headers: { 'retry-after': '300' } });
    await rejection(fleet[0].getToken());
    for (const s of fleet) expect(await rejection(s.getToken())).toBeInstanceOf(TokenEndpointThrottledError);
    await clock.advance(299_000);
    for (const s of fleet) expect(await rejection(s.getToken())).toBeInstanceOf(TokenEndpointThrottledError);
    expect(issuer.tokenRequestCount).toBe(1);
    await clock.advance(1_001);
    const tokens = await Promise.all(fleet.map((s) => s.getToken()));
    expect(new Set(tokens).size).toBe(1);
    expect(issuer.tokenRequestCount).toBe(2);
  });

  it('an instance joining later takes the fleet token instead of asking', async () => {
    const token = await fleet[0].getToken();
    expect(await fleet[3].getToken()).toBe(token);
    expect(issuer.tokenRequestCount).toBe(1);
  });
});

describe('a lease holder that dies', () => {
  it('is replaced once its lease lapses: the waiting instance asks itself, once', async () => {
    const clock = new FakeClock(Date.now());
    const issuer = await TestIssuer.start({ clock });
    issuer.addClient({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    const store = new MemoryClientTokenStore(() => clock.now());
    const { service } = serviceFor(issuer, clock, {}, store);
    // Another process took the lease for this key and died: the key is the service's hash of endpoint, client, audience and scope.
    const key = `cc:${createHash('sha256').update(`${issuer.tokenEndpoint}\n${CLIENT_ID}\n${API}\n`).digest('hex').slice(0, 40)}`;
    expect(await store.lease(key, clientTokenLeaseTtlMs(CLIENT_CREDENTIALS_DEFAULTS.timeoutMs))).not.toBeNull();
    try {
      let settled = false;
      const pending = service.getToken().finally(() => (settled = true));
      // It waits for the holder's result (polling the store), never asking meanwhile.
      for (let waited = 0; waited < clientTokenLeaseTtlMs(CLIENT_CREDENTIALS_DEFAULTS.timeoutMs) - 200; waited += 100) await clock.advance(100);
      expect(settled).toBe(false);
      expect(issuer.tokenRequestCount).toBe(0);
      for (let i = 0; i < 10 && !settled; i++) await clock.advance(100);
      expect(typeof (await pending)).toBe('string');
      expect(issuer.tokenRequestCount).toBe(1);
    } finally {
      service.close();
      await issuer.close();
    }
  });
});
