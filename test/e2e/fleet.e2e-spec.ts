import { Redis } from 'ioredis';
import { TestIssuer } from '../../lib/testing';
import { FleetProcess, type FleetAppOptions } from '../fixtures/fleet/fleet-process';
import { RedisServer } from '../fixtures/redis-server';

/**
 * Fleet mode across real processes: four Nest apps (fleet-app.ts, each its own `node`), one
 * redis-server, one TestIssuer in this process counting the JWKS requests the whole fleet makes.
 * Each test starts its own four members, issuer and key prefix, so nothing carries over.
 *
 * `FLEET_E2E_WITHOUT_FLEET=1` runs the same scenarios with the `fleet` option left out: four
 * independent processes. The sharing assertions then fail, showing each can.
 */
const WITH_FLEET = !process.env.FLEET_E2E_WITHOUT_FLEET;
const MEMBERS = 4;
/** Operator actions and shared sets reach every member within this. */
const PROPAGATION_MS = 1_000;
/** How often a "within" poll looks. */
const POLL_MS = 25;
/** The unknown-kid cooldown of these tests: every flood below runs inside one. */
const COOLDOWN_MS = 60_000;
/** Small, so a lease left by a killed holder (2 × timeout + 1 s) lapses within seconds. */
const FETCH_TIMEOUT_MS = 1_000;
const LEASE_TTL_MS = 2 * FETCH_TIMEOUT_MS + 1_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `probe` every POLL_MS until it returns true; fails once `deadline` (an absolute time) has
 * passed, with what the last probe saw. The assertion is on the deadline, not on a sleep.
 */
async function until(what: string, deadline: number, probe: () => Promise<boolean> | boolean, seen: () => unknown = () => undefined): Promise<number> {
  for (;;) {
    if (await probe()) return Date.now();
    if (Date.now() > deadline) throw new Error(`${what}: not met by the deadline; last seen: ${JSON.stringify(seen())}`);
    await sleep(POLL_MS);
  }
}

/** Runs `count` calls of `task(i)` with at most `width` in flight. */
async function pool<T>(count: number, width: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, count) }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

describe('fleet fixture without the fleet option (the harness itself)', () => {
  let issuer: TestIssuer;
  let member: FleetProcess;

  beforeAll(async () => {
    await FleetProcess.warmCache();
    issuer = await TestIssuer.start();
  }, 60_000);
  afterAll(async () => {
    await member?.kill();
    await issuer?.close();
  });

  it('runs one app in a child process: tokens verify, the admin routes act on its key set', async () => {
    const started = Date.now();
    member = await FleetProcess.start({ issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: issuer.audience }, 'solo');
    const startupMs = Date.now() - started;
    expect(startupMs).toBeLessThan(20_000);

    const token = issuer.sign({ sub: 'alice' });
    expect(await member.get('/protected', token)).toMatchObject({ status: 200, body: { sub: 'alice' } });
    expect((await member.get('/protected')).status).toBe(401);
    const state = await member.state();
    expect(state).toMatchObject({ kids: [issuer.kid], phase: 'fresh', fetchCount: 1 });
    expect(issuer.requestCount).toBe(1);

    expect((await member.post(`/admin/revoke/${issuer.kid}`)).status).toBe(200);
    expect((await member.get('/protected', token)).status).toBe(401);
    expect((await member.state()).revokedKids).toEqual([issuer.kid]);
    expect((await member.post(`/admin/restore/${issuer.kid}`)).status).toBe(200);
    expect((await member.get('/protected', token)).status).toBe(200);

    expect((await member.post('/admin/invalidate')).body).toMatchObject({ fresh: false });
    expect((await member.get('/protected', token)).status).toBe(200);
    expect(issuer.requestCount).toBe(2);
    expect((await member.post('/admin/refresh')).status).toBe(200);
    expect(issuer.requestCount).toBe(3);
    // Logs reach the parent (the hostile-value test reads them).
    expect(member.output()).toContain('Nest application successfully started');
  }, 30_000);

  it('fails at once, with the child output, when the app does not start', async () => {
    await expect(FleetProcess.start({ issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: issuer.audience, noSuchOption: true }, 'bad')).rejects.toThrow(
      /exited .* before FLEET-READY[\s\S]*noSuchOption/,
    );
  }, 30_000);
});

describe('fleet mode: four processes share one key set through Redis', () => {
  let redis: RedisServer;
  let raw: Redis;
  let issuer: TestIssuer;
  let members: FleetProcess[] = [];
  let prefix: string;
  let testNo = 0;

  function options(overrides: { cache?: Record<string, unknown>; fetch?: Record<string, unknown> } & FleetAppOptions = {}): FleetAppOptions {
    const { cache, fetch, ...rest } = overrides;
    return {
      issuer: issuer.issuer,
      jwksUri: issuer.jwksUri,
      audience: issuer.audience,
      cache: { cooldownMs: COOLDOWN_MS, ...cache },
      fetch: { timeoutMs: FETCH_TIMEOUT_MS, ...fetch },
      ...(WITH_FLEET ? { fleet: { redis: redis.url, keyPrefix: prefix } } : {}),
      ...rest,
    };
  }

  async function startFleet(overrides: Parameters<typeof options>[0] = {}): Promise<FleetProcess[]> {
    members = await FleetProcess.startMany(MEMBERS, options(overrides));
    return members;
  }

  /** Every member holds a set with `kid` (polls: a member may take the shared set a moment later). */
  async function allHold(kid: string, ms = 5_000): Promise<void> {
    const states: unknown[] = [];
    await until(`every member holds ${kid}`, Date.now() + ms, async () => {
      const now = await Promise.all(members.filter((m) => m.alive).map((m) => m.state()));
      states.splice(0, states.length, ...now.map((s) => ({ kids: s.kids, phase: s.phase, fleet: s.fleet })));
      return now.every((s) => (s.kids as string[]).includes(kid));
    }, () => states);
  }

  /** Each member's `fetchedAt` (when its set was last fetched or confirmed, by it or the fleet). */
  async function fetchTimes(of = members): Promise<number[]> {
    return Promise.all(of.map(async (m) => (await m.state()).fetchedAt as number));
  }

  async function statuses(token: string, of = members): Promise<number[]> {
    return Promise.all(of.map(async (m) => (await m.get('/protected', token)).status));
  }

  /** The Redis keys holding this test's key-set state. */
  async function stateKeys(): Promise<string[]> {
    return raw.keys(`${prefix}*:state`);
  }

  beforeAll(async () => {
    await FleetProcess.warmCache();
    redis = await RedisServer.start();
    raw = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    raw.on('error', () => undefined);
    await raw.connect();
  }, 60_000);
  afterAll(async () => {
    raw?.disconnect();
    await redis?.stop();
  });
  beforeEach(async () => {
    prefix = `fleet-e2e-${process.pid}-${++testNo}:`;
    issuer = await TestIssuer.start();
  });
  afterEach(async () => {
    await Promise.all(members.map((m) => m.kill()));
    members = [];
    await issuer.close();
    // A test that stopped Redis leaves it up for the next.
    await redis.resume();
    if (raw.status !== 'ready') await until('the raw Redis client reconnects', Date.now() + 10_000, () => raw.status === 'ready');
  }, 30_000);

  it('a cold start of four members makes exactly one upstream JWKS fetch', async () => {
    await startFleet();
    await allHold(issuer.kid);
    // Late fetches would show up here: give them a moment.
    await sleep(300);
    expect(issuer.requestCount).toBe(1);
    const states = await Promise.all(members.map((m) => m.state()));
    expect(states.reduce((n, s) => n + (s.fetchCount as number), 0)).toBe(1);
    expect(states.map((s) => s.fleet)).toEqual(Array(MEMBERS).fill('joined'));
    expect(await statuses(issuer.sign())).toEqual(Array(MEMBERS).fill(200));
    expect(await stateKeys()).toHaveLength(1);
  }, 40_000);

  it('4,000 tokens with unknown kids spread over the four, inside one cooldown, make at most one upstream fetch', async () => {
    await startFleet();
    await allHold(issuer.kid);
    const before = issuer.requestCount;
    // Signed by a key the issuer never publishes, each with its own made-up kid.
    const attackerKid = issuer.addKey({ publish: false });
    const codes = await pool(4_000, 64, async (i) => {
      const token = issuer.sign({ sub: 'mallory' }, { kid: attackerKid, header: { kid: `made-up-${i}` } });
      return (await members[i % MEMBERS].get('/protected', token)).status;
    });
    expect(codes.filter((c) => c !== 401)).toEqual([]);
    expect(issuer.requestCount - before).toBeLessThanOrEqual(1);
    // The flood cost nothing to real users.
    expect(await statuses(issuer.sign())).toEqual(Array(MEMBERS).fill(200));
  }, 60_000);

  it('a rotation seen by one member is used by all without another fetch', async () => {
    await startFleet();
    await allHold(issuer.kid);
    const before = issuer.requestCount;
    const newKid = issuer.rotate();
    const token = issuer.sign({ sub: 'after-rotation' });
    expect((await members[0].get('/protected', token)).status).toBe(200);
    expect(issuer.requestCount - before).toBe(1);
    // The others take the set member 1 fetched: a token with the new kid they see before it
    // arrives may be refused (the fleet's cooldown), but must not cost another fetch.
    const start = Date.now();
    let seen: number[] = [];
    await until('the others accept the new kid', start + PROPAGATION_MS, async () => (seen = await statuses(token, members.slice(1))).every((c) => c === 200), () => seen);
    expect(issuer.requestCount - before).toBe(1);
    await allHold(newKid, PROPAGATION_MS);
  }, 40_000);

  it('revokeKey() and restoreKey() on one member reach all four within a second', async () => {
    await startFleet();
    await allHold(issuer.kid);
    const kid = issuer.kid;
    const token = issuer.sign();
    const others = members.slice(1);

    let seen: number[] = [];
    let start = Date.now();
    expect((await members[0].post(`/admin/revoke/${kid}`)).status).toBe(200);
    expect((await members[0].get('/protected', token)).status).toBe(401);
    await until('the revocation reaches every member', start + PROPAGATION_MS, async () => (seen = await statuses(token, others)).every((s) => s === 401), () => seen);
    for (const s of await Promise.all(others.map((m) => m.state()))) expect(s.revokedKids).toEqual([kid]);

    start = Date.now();
    expect((await members[0].post(`/admin/restore/${kid}`)).status).toBe(200);
    expect((await members[0].get('/protected', token)).status).toBe(200);
    await until('the restoration reaches every member', start + PROPAGATION_MS, async () => (seen = await statuses(token, others)).every((s) => s === 200), () => seen);
    for (const s of await Promise.all(others.map((m) => m.state()))) expect(s.revokedKids).toEqual([]);
  }, 40_000);

  it('invalidate() on one member reaches all four within a second, and the fleet revalidates once', async () => {
    await startFleet();
    await allHold(issuer.kid);
    const fetchedAt = await fetchTimes();
    const before = issuer.requestCount;

    let seen: unknown[] = [];
    const start = Date.now();
    expect((await members[0].post('/admin/invalidate')).status).toBe(200);
    // Each other member either no longer trusts its set, or already holds one revalidated since.
    await until(
      'the invalidation reaches every member',
      start + PROPAGATION_MS,
      async () => {
        const states = await Promise.all(members.map((m) => m.state()));
        seen = states.map((s) => ({ fresh: s.fresh, fetchedAt: s.fetchedAt }));
        return states.every((s, i) => s.fresh === false || (s.fetchedAt as number) > fetchedAt[i]);
      },
      () => seen,
    );
    expect(await statuses(issuer.sign())).toEqual(Array(MEMBERS).fill(200));
    await until('every member holds a revalidated set', Date.now() + PROPAGATION_MS, async () => {
      const states = await Promise.all(members.map((m) => m.state()));
      seen = states.map((s) => ({ fresh: s.fresh, fetchedAt: s.fetchedAt }));
      return states.every((s, i) => s.fresh === true && (s.fetchedAt as number) > fetchedAt[i]);
    }, () => seen);
    expect(issuer.requestCount - before).toBe(1);
  }, 40_000);

  it('Redis killed: members keep authenticating, degrade to per-process limits, and rejoin when it is back', async () => {
    await startFleet();
    await allHold(issuer.kid);
    const token = issuer.sign();

    await redis.kill();
    expect(await statuses(token)).toEqual(Array(MEMBERS).fill(200));
    let seen: unknown[] = [];
    await until('every member reports the fleet degraded', Date.now() + 5_000, async () => {
      seen = (await Promise.all(members.map((m) => m.state()))).map((s) => s.fleet);
      return seen.every((f) => f === 'degraded');
    }, () => seen);
    expect(await statuses(token)).toEqual(Array(MEMBERS).fill(200));

    // A flood of unknown kids: each member may spend its own cooldown's one fetch, no more.
    const counts = await Promise.all(members.map(async (m) => (await m.state()).fetchCount as number));
    const before = issuer.requestCount;
    const attackerKid = issuer.addKey({ publish: false });
    const codes = await pool(400, 32, async (i) => (await members[i % MEMBERS].get('/protected', issuer.sign({}, { kid: attackerKid, header: { kid: `degraded-${i}` } }))).status);
    expect(codes.filter((c) => c !== 401)).toEqual([]);
    expect(issuer.requestCount - before).toBeLessThanOrEqual(MEMBERS);
    const after = await Promise.all(members.map(async (m) => (await m.state()).fetchCount as number));
    after.forEach((n, i) => expect(n - counts[i]).toBeLessThanOrEqual(1));
    expect(await statuses(token)).toEqual(Array(MEMBERS).fill(200));

    await redis.resume();
    await until('every member rejoins the fleet', Date.now() + 10_000, async () => {
      seen = (await Promise.all(members.map((m) => m.state()))).map((s) => s.fleet);
      return seen.every((f) => f === 'joined');
    }, () => seen);
    // Rejoined, an operator action on one reaches the others again within a second.
    const start = Date.now();
    expect((await members[0].post(`/admin/revoke/${issuer.kid}`)).status).toBe(200);
    let codesSeen: number[] = [];
    await until('a revocation after the rejoin reaches every member', start + PROPAGATION_MS, async () => (codesSeen = await statuses(token, members.slice(1))).every((s) => s === 401), () => codesSeen);
  }, 60_000);

  it('the lease holder killed mid-fetch: no member fetches while its lease holds, one does once it lapses', async () => {
    await startFleet();
    await allHold(issuer.kid);
    const fetchedAt = await fetchTimes();
    const before = issuer.requestCount;
    // The JWKS endpoint hangs: member 1's refresh takes the lease and stays in flight.
    issuer.setFault({ delayMs: 60_000 });
    const leaseNoEarlierThan = Date.now();
    void members[0].post('/admin/refresh').catch(() => undefined);
    await until('member 1 is mid-fetch', Date.now() + FETCH_TIMEOUT_MS / 2, () => issuer.requestCount === before + 1);
    // Killed before its own fetch timeout ends the request: the lease is left to lapse.
    await members[0].kill();
    issuer.clearFault();

    // Watch the issuer while member 2 is asked, again and again, to refresh.
    let secondFetchAt = 0;
    const watching = (async () => {
      while (secondFetchAt === 0 && Date.now() < leaseNoEarlierThan + LEASE_TTL_MS + 5_000) {
        if (issuer.requestCount > before + 1) secondFetchAt = Date.now();
        await sleep(5);
      }
    })();
    let seen: unknown = null;
    await until('member 2 holds a set fetched after the lease lapsed', leaseNoEarlierThan + LEASE_TTL_MS + 3_000, async () => {
      const res = await members[1].post('/admin/refresh');
      const state = res.status === 200 ? (res.body as Record<string, unknown>) : await members[1].state();
      seen = { status: res.status, fetchedAt: state.fetchedAt, fetching: state.fetching, fleet: state.fleet };
      return (state.fetchedAt as number) > fetchedAt[1];
    }, () => seen);
    await watching;
    expect(secondFetchAt).toBeGreaterThan(0);
    // Nobody fetched while the dead holder's lease held.
    expect(secondFetchAt).toBeGreaterThanOrEqual(leaseNoEarlierThan + LEASE_TTL_MS - 20);
    expect(issuer.requestCount - before).toBe(2);
    // The others take that set without fetching.
    await until('members 3 and 4 take the new set', Date.now() + PROPAGATION_MS, async () => {
      const now = await fetchTimes(members.slice(2));
      return now.every((t, i) => t > fetchedAt[i + 2]);
    });
    expect(issuer.requestCount - before).toBe(2);
  }, 40_000);

  it('a hostile value at the Redis state key is refused, logged without the value, and the last good set kept', async () => {
    await startFleet();
    await allHold(issuer.kid);
    const keys = await stateKeys();
    expect(keys).toHaveLength(1);
    const [key] = keys;
    const channel = key.replace(/:state$/, ':changed');
    const good = JSON.parse((await raw.get(key))!) as { format: string; version: number; issuer: string; jwksUri: string; state: Record<string, unknown> };
    expect(good).toMatchObject({ format: 'nestjs-jwks-auth/key-set-state', version: 1, issuer: issuer.issuer, jwksUri: issuer.jwksUri });
    const token = issuer.sign();
    const marker = 'HOSTILE-7f3a9c';

    const hostile: Array<[string, string]> = [
      ['not-json', `{${marker} this is not JSON`],
      ['foreign', JSON.stringify({ [marker]: true, keys: [] })],
      ['bad-jwks', JSON.stringify({ ...good, state: { ...good.state, jwks: `{"${marker}": 1}` } })],
      ['bad-time', JSON.stringify({ ...good, state: { ...good.state, freshUntil: -1, etag: `"${marker}"` } })],
    ];
    for (const [reason, value] of hostile) {
      await raw.set(key, value);
      // A change notice, as a member's save sends: every member reads the key back.
      await raw.publish(channel, JSON.stringify({ from: marker }));
      await until(`every member refuses the ${reason} value`, Date.now() + 2_000, () => members.every((m) => m.output().includes(`not used (${reason})`)));
      expect(await statuses(token)).toEqual(Array(MEMBERS).fill(200));
    }
    for (const m of members) {
      expect(m.output()).not.toContain(marker);
      expect((await m.state()).kids).toEqual([issuer.kid]);
    }

    // The next fetch writes a good value back.
    expect((await members[2].post('/admin/refresh')).status).toBe(200);
    const rewritten = JSON.parse((await raw.get(key))!) as typeof good;
    expect(rewritten).toMatchObject({ format: good.format, version: 1, issuer: issuer.issuer, jwksUri: issuer.jwksUri });
    expect(JSON.parse(rewritten.state.jwks as string)).toEqual(issuer.jwks());
  }, 40_000);

  it('a well-formed stored state claiming freshness far beyond maxTtl is capped by the members', async () => {
    // A value in the store's own format is trusted like the IdP's answer (whoever can write Redis
    // is); what a member still bounds is how long it trusts it without asking the IdP.
    const ttlMs = 90_000;
    const maxTtlMs = 120_000;
    await startFleet({ cache: { ttlMs, maxTtlMs } });
    await allHold(issuer.kid);
    const [key] = await stateKeys();
    const good = JSON.parse((await raw.get(key))!) as { state: Record<string, unknown> };
    const fetchedAt = (good.state.fetchedAt as number) + 1;
    const tenYears = 10 * 365 * 24 * 3_600_000;
    await raw.set(key, JSON.stringify({ ...good, state: { ...good.state, fetchedAt, freshUntil: fetchedAt + tenYears } }));
    await raw.publish(key.replace(/:state$/, ':changed'), '{}');
    let seen: unknown[] = [];
    await until('every member took the stored state', Date.now() + PROPAGATION_MS, async () => {
      const states = await Promise.all(members.map((m) => m.state()));
      seen = states.map((s) => ({ fetchedAt: s.fetchedAt, freshUntil: s.freshUntil }));
      return states.every((s) => s.fetchedAt === fetchedAt);
    }, () => seen);
    for (const s of await Promise.all(members.map((m) => m.state()))) {
      expect((s.freshUntil as number) - fetchedAt).toBeLessThanOrEqual(Math.max(ttlMs, maxTtlMs));
    }
  }, 40_000);
});
