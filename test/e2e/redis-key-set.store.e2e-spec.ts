import { createServer, type AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { initialKeySetState, type KeySetState } from '../../lib/cache/key-set.state';
import { JwksStoreError } from '../../lib/errors/jwks.errors';
import { REDIS_STORE_DEFAULTS } from '../../lib/jwks-auth.constants';
import { RedisKeySetStore } from '../../lib/store/redis-key-set.store';
import { RedisServer } from '../fixtures/redis-server';

const ID = { issuer: 'https://idp.example.com/realms/a', jwksUri: 'https://idp.example.com/realms/a/jwks' };
const JWKS = JSON.stringify({ keys: [{ kty: 'RSA', kid: 'k1', n: 'AQAB', e: 'AQAB' }] });
const STATE: KeySetState = { ...initialKeySetState(), jwks: JWKS, fetchedAt: 1_000, etag: '"v1"', freshUntil: 601_000, failures: 0, revokedKids: ['old-kid'] };

async function waitFor(check: () => boolean, ms = 5_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('RedisKeySetStore against a real redis-server', () => {
  let server: RedisServer;
  let raw: Redis;
  const stores: RedisKeySetStore[] = [];
  let lines: string[];
  const log = { warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };

  function newStore(redis: string | Redis = server.url): RedisKeySetStore {
    const store = new RedisKeySetStore({ redis, log });
    stores.push(store);
    return store;
  }

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

  it('keeps the whole state across a save and a load', async () => {
    const store = newStore();
    expect(await store.load(ID)).toBeNull();
    await store.save(ID, STATE);
    expect(await store.load(ID)).toEqual(STATE);
    // A second store (another process) reads the same state.
    expect(await newStore().load(ID)).toEqual(STATE);
    expect(lines).toEqual([]);
  });

  it("pushes one store's save to another's watcher within a second, and not back to the saver", async () => {
    const a = newStore();
    const b = newStore();
    const seenByA: KeySetState[] = [];
    const seenByB: KeySetState[] = [];
    a.watch(ID, (s) => seenByA.push(s));
    b.watch(ID, (s) => seenByB.push(s));
    // Subscriptions are asynchronous: both land before the save.
    await Promise.all([a.whenWatching(), b.whenWatching()]);
    const started = Date.now();
    await a.save(ID, STATE);
    await waitFor(() => seenByB.length === 1, 1_000);
    const latency = Date.now() - started;
    expect(seenByB[0]).toEqual(STATE);
    const next = { ...STATE, fetchedAt: 2_000, etag: '"v2"' };
    await b.save(ID, next);
    await waitFor(() => seenByA.length === 1, 1_000);
    expect(seenByA[0]).toEqual(next);
    await new Promise((r) => setTimeout(r, 100));
    expect(seenByB).toHaveLength(1);
    expect(latency).toBeLessThan(1_000);
    if (process.env.REDIS_TIMINGS) process.stdout.write(`watch latency ${latency} ms\n`);
  });

  it('stops pushing after unsubscribing', async () => {
    const a = newStore();
    const b = newStore();
    const seen: KeySetState[] = [];
    const stop = b.watch(ID, (s) => seen.push(s));
    await b.whenWatching();
    stop();
    await a.save(ID, STATE);
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toEqual([]);
  });

  it('deletes a key set, and only that one', async () => {
    const store = newStore();
    const other = { issuer: 'https://idp.example.com/realms/b', jwksUri: null };
    await store.save(ID, STATE);
    await store.save(other, STATE);
    await store.delete(ID);
    expect(await store.load(ID)).toBeNull();
    expect(await store.load(other)).toEqual(STATE);
  });

  it('gives the lease to one client at a time, and lets only its holder release it', async () => {
    const a = newStore();
    const b = newStore();
    const held = await a.lease(ID, 10_000);
    expect(held).not.toBeNull();
    expect(await b.lease(ID, 10_000)).toBeNull();
    await held!.release();
    const next = await b.lease(ID, 10_000);
    expect(next).not.toBeNull();
    // A's lease is gone: releasing it again (or late) must not free B's.
    await held!.release();
    expect(await a.lease(ID, 10_000)).toBeNull();
    await next!.release();
    expect(await a.lease(ID, 10_000)).not.toBeNull();
  });

  it('lets a lease lapse at its ttl, and a late release by the old holder leaves the new one', async () => {
    const a = newStore();
    const b = newStore();
    const stale = await a.lease(ID, 150);
    expect(stale).not.toBeNull();
    expect(await b.lease(ID, 10_000)).toBeNull();
    await new Promise((r) => setTimeout(r, 250));
    const fresh = await b.lease(ID, 10_000);
    expect(fresh).not.toBeNull();
    // A's holder wakes up after its lease lapsed: compare-and-delete leaves B's lease alone.
    await stale!.release();
    expect(await raw.pttl(store0Keys(a).lease)).toBeGreaterThan(9_000);
  });

  function store0Keys(s: RedisKeySetStore) {
    return s.keysOf(ID);
  }

  describe('a hostile or corrupt value at the key', () => {
    const envelope = (state: unknown, id: { issuer: string; jwksUri: string | null } = ID) =>
      JSON.stringify({ format: 'nestjs-jwks-auth/key-set-state', version: 1, issuer: id.issuer, jwksUri: id.jwksUri, state });
    const cases: [string, string, (key: string) => Promise<unknown>][] = [
      ['not JSON', 'not-json', (k) => raw.set(k, '{"keys": [')],
      ["another app's plain string", 'not-json', (k) => raw.set(k, 'session:SECRETKID')],
      ["another app's JSON", 'foreign', (k) => raw.set(k, JSON.stringify({ keys: [{ kid: 'SECRETKID' }] }))],
      ['another Redis type (a hash)', 'foreign', (k) => raw.hset(k, 'jwks', JWKS)],
      ['a value over the size cap', 'too-large', (k) => raw.set(k, 'x'.repeat(REDIS_STORE_DEFAULTS.maxStateBytes + 1))],
      ["another key set's state", 'other-key-set', (k) => raw.set(k, envelope(STATE, { issuer: 'https://evil.example/', jwksUri: ID.jwksUri }))],
      ['a state that is not an object', 'not-an-object', (k) => raw.set(k, envelope('SECRETKID'))],
      ['a jwks that is not a JWK set', 'bad-jwks', (k) => raw.set(k, envelope({ ...STATE, jwks: '{"kid":"SECRETKID"}' }))],
      ['a negative time', 'bad-time', (k) => raw.set(k, envelope({ ...STATE, freshUntil: -5 }))],
      ['an infinite time (1e999)', 'bad-time', (k) => raw.set(k, envelope({ ...STATE, freshUntil: 0 }).replace('"freshUntil":0', '"freshUntil":1e999'))],
      ['a NaN time (null where a number belongs)', 'bad-time', (k) => raw.set(k, envelope({ ...STATE, notBefore: Number.NaN }))],
      ['revoked kids that are not strings', 'bad-revoked-kids', (k) => raw.set(k, envelope({ ...STATE, revokedKids: [{ kid: 'SECRETKID' }] }))],
      ['an ETag that would split a request', 'bad-etag', (k) => raw.set(k, envelope({ ...STATE, etag: '"SECRETKID"\r\nx-evil: 1' }))],
    ];

    it.each(cases)('refuses %s: logged with its reason, load null', async (_name, reason, write) => {
      const store = newStore();
      await write(store.keysOf(ID).state);
      expect(await store.load(ID)).toBeNull();
      expect(lines).toEqual([`JWKS Redis store: stored key set not used (${reason})`]);
      expect(lines.join('\n')).not.toContain('SECRETKID');
    });

    it.each(cases)('replaces %s on update: the change sees no state, and its result is stored', async (_name, _reason, write) => {
      const store = newStore();
      await write(store.keysOf(ID).state);
      const seen: (KeySetState | null)[] = [];
      const written = await store.update(ID, (current) => {
        seen.push(current);
        return STATE;
      });
      expect(seen).toEqual([null]);
      expect(written).toEqual(STATE);
      expect(await store.load(ID)).toEqual(STATE);
    });

    it('is never pushed to a watcher', async () => {
      const store = newStore();
      const seen: KeySetState[] = [];
      store.watch(ID, (s) => seen.push(s));
      await store.whenWatching();
      const keys = store.keysOf(ID);
      await raw.set(keys.state, envelope({ ...STATE, revokedKids: [7] }));
      await raw.publish(keys.channel, '{"from":"elsewhere"}');
      await waitFor(() => lines.length > 0, 1_000);
      expect(lines).toEqual(['JWKS Redis store: stored key set not used (bad-revoked-kids)']);
      expect(seen).toEqual([]);
    });
  });

  describe('update', () => {
    it('loses no change when processes write at once: each change is asked again on the value written in between', async () => {
      const a = newStore();
      const b = newStore();
      await a.save(ID, { ...STATE, revokedKids: [] });
      const revoke = (store: RedisKeySetStore, kid: string) => store.update(ID, (s) => (s === null ? null : { ...s, revokedKids: [...s.revokedKids, kid] }));
      // Two processes, four writes each, all started together: a plain read-then-save would lose most of them.
      const kids = ['a1', 'a2', 'a3', 'a4', 'b1', 'b2', 'b3', 'b4'];
      const results = await Promise.allSettled(kids.map((kid) => revoke(kid.startsWith('a') ? a : b, kid)));
      const stored = await a.load(ID);
      const written = kids.filter((_, i) => results[i].status === 'fulfilled');
      // Every write that reported success is in the final state; any other ended with a conflict error, not silently.
      expect([...(stored?.revokedKids ?? [])].sort()).toEqual([...written].sort());
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'ERR_JWKS_STORE', reason: 'conflict' });
      expect(written.length).toBeGreaterThanOrEqual(REDIS_STORE_DEFAULTS.maxUpdateAttempts);
    });

    it('writes nothing when the change returns null, or the same state', async () => {
      const a = newStore();
      await a.save(ID, STATE);
      const events: string[] = [];
      const sub = raw.duplicate();
      await sub.subscribe(a.keysOf(ID).channel);
      sub.on('message', (_c, m) => events.push(m));
      expect(await a.update(ID, () => null)).toEqual(STATE);
      expect(await a.update(ID, (s) => s)).toEqual(STATE);
      await a.update(ID, (s) => ({ ...(s ?? STATE), etag: '"v2"' }));
      await waitFor(() => events.length === 1, 1_000);
      expect(events).toHaveLength(1);
      sub.disconnect();
    });

    it('pushes an update to another process, never back to the writer', async () => {
      const a = newStore();
      const b = newStore();
      const seenA: KeySetState[] = [];
      const seenB: KeySetState[] = [];
      a.watch(ID, (s) => seenA.push(s));
      b.watch(ID, (s) => seenB.push(s));
      await Promise.all([a.whenWatching(), b.whenWatching()]);
      await a.update(ID, () => STATE);
      await waitFor(() => seenB.length === 1, 1_000);
      expect(seenB).toEqual([STATE]);
      expect(seenA).toEqual([]);
    });
  });

  it('bounds a call made before the first connection by the connect timeout: a Redis that accepts and never answers', async () => {
    // A TCP server that takes the connection and says nothing: ioredis waits for its handshake.
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const { port } = silent.address() as AddressInfo;
    const store = new RedisKeySetStore({ redis: `redis://127.0.0.1:${port}`, log });
    stores.push(store);
    try {
      const t0 = Date.now();
      expect(await store.load(ID)).toBeNull();
      const ms = Date.now() - t0;
      expect(ms).toBeGreaterThanOrEqual(REDIS_STORE_DEFAULTS.connectTimeoutMs - 20);
      expect(ms).toBeLessThan(REDIS_STORE_DEFAULTS.connectTimeoutMs + 500);
      expect(store.fleetStatus()).toBe('degraded');
    } finally {
      await store.close();
      silent.close();
    }
  });

  it('names where Redis was looked for, never the password of its URL', async () => {
    const store = new RedisKeySetStore({ redis: 'redis://user:hunter2-secret@127.0.0.1:1/0', log });
    stores.push(store);
    expect(await store.load(ID)).toBeNull();
    await waitFor(() => lines.some((l) => l.includes('connection to 127.0.0.1:1 failed')), 3_000);
    expect(lines.join('\n')).not.toContain('hunter2');
  });

  it('leaves a client it was given open, and closes the ones it created', async () => {
    const given = new Redis(server.url);
    const store = new RedisKeySetStore({ redis: given, log });
    await store.save(ID, STATE);
    store.watch(ID, () => undefined);
    await store.whenWatching();
    await store.close();
    expect(given.status).toBe('ready');
    expect(await given.get(store.keysOf(ID).state)).not.toBeNull();
    await given.quit();
    await expect(store.load(ID)).resolves.toBeNull();
    await expect(store.save(ID, STATE)).rejects.toMatchObject({ code: 'ERR_JWKS_STORE', reason: 'closed' });
  });

  it('bounds a call by the timeout when Redis hangs, then fails fast until a probe answers again', async () => {
    const store = newStore();
    await store.save(ID, STATE);
    expect(store.fleetStatus()).toBe('joined');
    server.pause();
    try {
      let t0 = Date.now();
      expect(await store.load(ID)).toBeNull();
      const loadMs = Date.now() - t0;
      expect(loadMs).toBeGreaterThanOrEqual(REDIS_STORE_DEFAULTS.commandTimeoutMs - 20);
      expect(loadMs).toBeLessThan(REDIS_STORE_DEFAULTS.commandTimeoutMs + 200);
      expect(store.fleetStatus()).toBe('degraded');
      // Right after a failure, calls are refused at once instead of each waiting out a hung Redis.
      t0 = Date.now();
      await expect(store.save(ID, STATE)).rejects.toMatchObject({ code: 'ERR_JWKS_STORE', reason: 'unavailable' });
      await expect(store.lease(ID, 1_000)).rejects.toMatchObject({ reason: 'unavailable' });
      await expect(store.update(ID, (s) => s)).rejects.toMatchObject({ reason: 'unavailable' });
      const fastMs = Date.now() - t0;
      expect(fastMs).toBeLessThan(REDIS_STORE_DEFAULTS.commandTimeoutMs);
      // After failFastMs one call goes through as a probe: still hung, so it times out in turn.
      await new Promise((r) => setTimeout(r, REDIS_STORE_DEFAULTS.failFastMs));
      await expect(store.lease(ID, 1_000)).rejects.toMatchObject({ reason: 'timeout' });
      if (process.env.REDIS_TIMINGS) process.stdout.write(`hung: load ${loadMs} ms, three calls failing fast ${fastMs} ms\n`);
      expect(lines).toContain('JWKS Redis store: load failed (timeout); the key set carries on from memory');
    } finally {
      server.unpause();
    }
    // Woken: the next probe answers, and the store reports itself joined again.
    let loaded: KeySetState | null = null;
    const until = Date.now() + 5_000;
    while (loaded === null && Date.now() < until) {
      loaded = await store.load(ID);
      if (loaded === null) await new Promise((r) => setTimeout(r, 100));
    }
    expect(loaded).toEqual(STATE);
    expect(store.fleetStatus()).toBe('joined');
  });

  describe('Redis killed mid-run', () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    beforeAll(() => process.on('unhandledRejection', onUnhandled));
    afterAll(() => process.off('unhandledRejection', onUnhandled));

    it('fails each call within the timeout, never throws from load, and resumes when Redis is back', async () => {
      const a = newStore();
      const b = newStore();
      const seen: KeySetState[] = [];
      b.watch(ID, (s) => seen.push(s));
      await b.whenWatching();
      await a.save(ID, STATE);
      await waitFor(() => seen.length === 1, 1_000);

      raw.disconnect();
      await server.kill();
      const bound = REDIS_STORE_DEFAULTS.commandTimeoutMs + 200;
      const timed = async <T>(p: Promise<T>) => {
        const t0 = Date.now();
        const settled = await p.then(
          (v) => ({ ok: true as const, v }),
          (e: unknown) => ({ ok: false as const, e }),
        );
        return { ...settled, ms: Date.now() - t0 };
      };
      const loaded = await timed(a.load(ID));
      expect(loaded).toMatchObject({ ok: true, v: null });
      expect(loaded.ms).toBeLessThan(bound);
      const saved = await timed(a.save(ID, STATE));
      expect(saved.ok).toBe(false);
      expect((saved as { e: unknown }).e).toBeInstanceOf(JwksStoreError);
      expect(saved.ms).toBeLessThan(bound);
      // On Redis trouble a lease is refused with an error (fetch yourself), never null (wait for a holder).
      const leased = await timed(a.lease(ID, 1_000));
      expect(leased.ok).toBe(false);
      expect((leased as { e: unknown }).e).toBeInstanceOf(JwksStoreError);
      expect(leased.ms).toBeLessThan(bound);
      await expect(a.delete(ID)).rejects.toBeInstanceOf(JwksStoreError);
      expect(lines.some((l) => /^JWKS Redis store: (load|save|lease|connection|subscriber) failed \(/.test(l))).toBe(true);
      const before = lines.length;
      const t0 = Date.now();
      for (let i = 0; i < 20; i++) await a.load(ID);
      const twentyLoadsMs = Date.now() - t0;
      // Rate-limited: twenty more failed loads add no line.
      expect(lines.length).toBe(before);
      // The configured host and port, to say where Redis was looked for; nothing from an error message.
      expect(lines.join('\n')).not.toMatch(/ECONNREFUSED.*:\d/);
      // ioredis reports the refused reconnects as they happen: the first one is logged, naming the target.
      await waitFor(() => lines.some((l) => l.startsWith(`JWKS Redis store: connection to 127.0.0.1:${server.port} failed (`) && l.includes('check fleet.redis')), 5_000);

      await server.resume();
      await raw.connect();
      // Redis came back empty (nothing persisted): a save works again once the client reconnected,
      // and the watcher's subscription came back with it.
      const next = { ...STATE, fetchedAt: 5_000, etag: '"v5"' };
      const resumedAt = Date.now();
      let saved2 = false;
      while (!saved2 && Date.now() - resumedAt < 8_000) {
        saved2 = await a.save(ID, next).then(() => true, () => false);
        if (!saved2) await new Promise((r) => setTimeout(r, 100));
      }
      expect(saved2).toBe(true);
      if (process.env.REDIS_TIMINGS) process.stdout.write(`down: load ${loaded.ms} ms, save ${saved.ms} ms, lease ${leased.ms} ms, 20 loads ${twentyLoadsMs} ms; back: save after ${Date.now() - resumedAt} ms\n`);
      await waitFor(() => seen.some((s) => s.etag === '"v5"'), 8_000);
      if (process.env.REDIS_TIMINGS) process.stdout.write(`back: pushed after ${Date.now() - resumedAt} ms\n`);
      expect(await b.load(ID)).toEqual(next);
      expect(unhandled).toEqual([]);
    }, 30_000);
  });
});
