import { Redis } from 'ioredis';
import { JwksStoreError } from '../../lib/errors/jwks.errors';
import { CLIENT_CREDENTIALS_DEFAULTS } from '../../lib/jwks-auth.constants';
import type { ClientTokenEntry } from '../../lib/client-credentials/client-token.store';
import { EncryptedClientTokenStore } from '../../lib/client-credentials/encrypted-token.store';
import { RedisClientTokenStore } from '../../lib/client-credentials/redis-client-token.store';
import { RedisServer } from '../fixtures/redis-server';

const KEY = 'cc:0123456789abcdef0123456789abcdef01234567';
const NOW = Date.now();
const ENTRY: ClientTokenEntry = {
  token: { accessToken: 'eyJhbGciOi.the-access-token.sig', tokenType: 'Bearer', expiresAt: NOW + 3_600_000, obtainedAt: NOW, scope: 'read:users' },
  gate: null,
};

async function waitFor(check: () => boolean, ms = 5_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('RedisClientTokenStore against a real redis-server', () => {
  let server: RedisServer;
  let raw: Redis;
  const stores: RedisClientTokenStore[] = [];
  let lines: string[];
  const log = { warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m), log: (m: string) => lines.push(m) };

  function newStore(redis: string | Redis = server.url): RedisClientTokenStore {
    const store = new RedisClientTokenStore({ redis, log });
    stores.push(store);
    return store;
  }
  const stored = (key = KEY) => raw.get(`jwks-auth:${key}:token`);

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
    lines = [];
    await raw.flushall();
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });

  it('keeps an entry only as long as the token lives, and another process reads it', async () => {
    const a = newStore();
    expect(await a.read(KEY)).toBeNull();
    await a.write(KEY, ENTRY, 90_000);
    expect(await newStore().read(KEY)).toEqual(ENTRY);
    const pttl = await raw.pttl(`jwks-auth:${KEY}:token`);
    expect(pttl).toBeGreaterThan(85_000);
    expect(pttl).toBeLessThanOrEqual(90_000);
    expect(lines).toEqual([]);
  });

  it('gives one lease at a time, released only by its holder, and lapsing at its ttl', async () => {
    const a = newStore();
    const b = newStore();
    const lease = await a.lease(KEY, 5_000);
    expect(lease).not.toBeNull();
    expect(await b.lease(KEY, 5_000)).toBeNull();
    await lease!.release();
    const second = await b.lease(KEY, 5_000);
    expect(second).not.toBeNull();
    // A stale release (the first holder again) does not free the new holder's lease.
    await lease!.release();
    expect(await a.lease(KEY, 5_000)).toBeNull();
    // A lease key planted without an expiry is given one, so it lapses like any.
    await raw.set(`jwks-auth:${KEY}-2:lease`, 'planted');
    expect(await a.lease(`${KEY}-2`, 5_000)).toBeNull();
    expect(await raw.pttl(`jwks-auth:${KEY}-2:lease`)).toBeGreaterThan(0);
  });

  it('pushes a write to the other processes watching the key, not to the writer', async () => {
    const a = newStore();
    const b = newStore();
    const seenByA: ClientTokenEntry[] = [];
    const seenByB: ClientTokenEntry[] = [];
    a.watch(KEY, (e) => seenByA.push(e));
    const stop = b.watch(KEY, (e) => seenByB.push(e));
    // Subscriptions are asynchronous: write until b has one.
    await waitFor(() => {
      void a.write(KEY, ENTRY, 60_000);
      return seenByB.length > 0;
    });
    expect(seenByB[0]).toEqual(ENTRY);
    expect(seenByA).toEqual([]);
    stop();
    const before = seenByB.length;
    await a.write(KEY, { ...ENTRY, gate: { notBefore: NOW + 1_000, attempts: 1, source: 'retry-after' } }, 60_000);
    await new Promise((r) => setTimeout(r, 100));
    expect(seenByB).toHaveLength(before);
  });

  it('refuses hostile values, logs why without the value, and a write replaces them', async () => {
    const store = newStore();
    const hostile: Array<[string, () => Promise<unknown>]> = [
      ['not-json', () => raw.set(`jwks-auth:${KEY}:token`, 'not json at all')],
      ['foreign', () => raw.set(`jwks-auth:${KEY}:token`, JSON.stringify({ some: 'other app' }))],
      ['foreign', () => raw.hset(`jwks-auth:${KEY}:token`, 'a', 'b')],
      ['too-large', () => raw.set(`jwks-auth:${KEY}:token`, 'x'.repeat(70 * 1024))],
      ['other-key', () => raw.set(`jwks-auth:${KEY}:token`, JSON.stringify({ format: 'nestjs-jwks-auth/client-token', version: 1, key: 'cc:another', entry: ENTRY }))],
      ['bad-token', () => raw.set(`jwks-auth:${KEY}:token`, JSON.stringify({ format: 'nestjs-jwks-auth/client-token', version: 1, key: KEY, entry: { token: { accessToken: 42 }, gate: null } }))],
      [
        'implausible-token-times',
        () => raw.set(`jwks-auth:${KEY}:token`, JSON.stringify({ format: 'nestjs-jwks-auth/client-token', version: 1, key: KEY, entry: { ...ENTRY, token: { ...ENTRY.token, obtainedAt: NOW, expiresAt: NOW + CLIENT_CREDENTIALS_DEFAULTS.maxLifetimeMs * 10 } } })),
      ],
      [
        'implausible-gate',
        () => raw.set(`jwks-auth:${KEY}:token`, JSON.stringify({ format: 'nestjs-jwks-auth/client-token', version: 1, key: KEY, entry: { token: null, gate: { notBefore: Date.now() + 365 * 86_400_000, attempts: 1, source: 'retry-after' } } })),
      ],
      ['bad-gate', () => raw.set(`jwks-auth:${KEY}:token`, JSON.stringify({ format: 'nestjs-jwks-auth/client-token', version: 1, key: KEY, entry: { token: null, gate: { notBefore: 'soon', attempts: 1, source: 'x' } } }))],
    ];
    for (const [reason, plant] of hostile) {
      await raw.del(`jwks-auth:${KEY}:token`);
      await plant();
      expect(await store.read(KEY)).toBeNull();
      expect(lines.some((l) => l.includes(`(${reason})`))).toBe(true);
      await store.write(KEY, ENTRY, 60_000);
      expect(await store.read(KEY)).toEqual(ENTRY);
    }
    expect(lines.join('\n')).not.toContain('the-access-token');
    expect(lines.join('\n')).not.toContain('other app');
  });

  it('holds no readable token when wrapped in EncryptedClientTokenStore', async () => {
    const key = Buffer.alloc(32, 7);
    const store = new EncryptedClientTokenStore(newStore(), key);
    await store.write(KEY, ENTRY, 60_000);
    const text = await stored();
    expect(text).not.toBeNull();
    expect(text).not.toContain('the-access-token');
    expect(await store.read(KEY)).toEqual(ENTRY);
    // Another process with the same key reads it; one with another key sees no token.
    expect(await new EncryptedClientTokenStore(newStore(), key).read(KEY)).toEqual(ENTRY);
    expect((await new EncryptedClientTokenStore(newStore(), Buffer.alloc(32, 8)).read(KEY))?.token).toBeNull();
  });

  it('bounds every call while Redis hangs, and reports degraded', async () => {
    const store = newStore();
    await store.write(KEY, ENTRY, 60_000);
    expect(store.fleetStatus()).toBe('joined');
    server.pause();
    try {
      const started = Date.now();
      await expect(store.read(KEY)).rejects.toBeInstanceOf(JwksStoreError);
      expect(Date.now() - started).toBeLessThan(1_500);
      expect(store.fleetStatus()).toBe('degraded');
      // Failing fast: the next call does not wait for another timeout.
      const again = Date.now();
      await expect(store.lease(KEY, 1_000)).rejects.toBeInstanceOf(JwksStoreError);
      expect(Date.now() - again).toBeLessThan(100);
    } finally {
      server.unpause();
    }
    expect(lines.some((l) => l.startsWith('Client-credentials Redis store: read failed (timeout)'))).toBe(true);
  });

  it('names the Redis it cannot reach (never a password), and rejoins when it is back', async () => {
    const store = new RedisClientTokenStore({ redis: `redis://:s3cret-pass@127.0.0.1:${server.port}`, log });
    stores.push(store);
    await store.write(KEY, ENTRY, 60_000);
    await server.kill();
    try {
      await expect(store.read(KEY)).rejects.toBeInstanceOf(JwksStoreError);
      await waitFor(() => lines.some((l) => l.includes(`connection to 127.0.0.1:${server.port} failed`)));
      expect(store.fleetStatus()).toBe('degraded');
    } finally {
      await server.resume();
    }
    await waitFor(() => store.fleetStatus() === 'joined', 10_000);
    expect(lines.some((l) => l.includes('answers again'))).toBe(true);
    expect(lines.join('\n')).not.toContain('s3cret-pass');
  });

  it('refuses keys and ttls it was not built for, before Redis sees them', async () => {
    const store = newStore();
    await expect(store.read('cc:with spaces')).rejects.toThrow(/key must be/);
    await expect(store.lease(KEY, 0)).rejects.toThrow(/ttlMs/);
    expect(() => new RedisClientTokenStore({ redis: server.url, keyPrefix: 'x'.repeat(101) })).toThrow(/keyPrefix/);
  });
});
