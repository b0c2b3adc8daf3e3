import { generateKeyPairSync } from 'node:crypto';
import { KeySetSource } from '../../lib/cache/key-set.source';
import { resolveJwksOptions } from '../../lib/options/options.validator';
import { JwksOptionsError, KeyRevokedError } from '../../lib/errors/jwks.errors';
import type { JwksFetcher } from '../../lib/fetch/jwks.fetcher';
import { FakeClock } from '../../lib/testing';
import { MemoryFleet } from '../fixtures/memory-fleet.store';

/**
 * Attacks on fleet mode on a fake clock with an in-memory fleet: hostile values in the shared state
 * (that pass the state validator) and weird `fleet` options.
 */
function jwk(kid: string) {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256' };
}

const BASE = { issuer: 'https://issuer.test/', jwksUri: 'https://issuer.test/jwks.json', audience: 'api', algorithms: ['ES256'] };
const options = resolveJwksOptions({ ...BASE, cache: { ttlMs: 600_000, cooldownMs: 30_000, maxStaleMs: 3_600_000, refreshAheadMs: 30_000 }, fetch: { timeoutMs: 1_000 } });
const ID = { issuer: BASE.issuer, jwksUri: BASE.jwksUri };

function fleetOf(n: number) {
  const clock = new FakeClock(1_700_000_000_000);
  const idp = { calls: 0, keys: [jwk('k1')] as object[] };
  const fetcher: JwksFetcher = async () => {
    idp.calls++;
    return { kind: 'ok', jwks: JSON.stringify({ keys: idp.keys }), etag: '"e"' };
  };
  const fleet = new MemoryFleet(clock);
  const sources = Array.from({ length: n }, () => new KeySetSource({ options, clock, fetcher, store: fleet.process(), listeners: [] }));
  return { fleet, sources, clock, idp };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
}

describe('attack: fleet shared state passing the validator but holding no usable key', () => {
  const all: KeySetSource[] = [];
  afterEach(async () => {
    await Promise.all(all.splice(0).map((s) => s.close()));
  });

  /** Writes, as someone with partial/corrupting access would, the fleet's own state with an empty key set and a far-ahead set revision. */
  function poison(f: ReturnType<typeof fleetOf>): void {
    const current = f.fleet.read(ID)!;
    const revision = current.revision + 1_000_000;
    f.fleet.write(null, ID, { ...current, jwks: JSON.stringify({ keys: [] }), revision, setRevision: revision });
  }

  it('a revocation on one process still reaches the others after the shared set was poisoned', async () => {
    const f = fleetOf(3);
    all.push(...f.sources);
    await Promise.all(f.sources.map((s) => s.start()));
    poison(f);
    await settle();
    // Every process still serves its own good set (the poisoned one is refused on adoption).
    for (const s of f.sources) await expect(s.getSigningKey('k1')).resolves.toBeDefined();
    f.sources[0].revokeKey('k1');
    await settle();
    await expect(f.sources[0].getSigningKey('k1')).rejects.toBeInstanceOf(KeyRevokedError);
    // The other processes must refuse the revoked kid too (that is what fleet mode promises).
    for (const s of f.sources.slice(1)) await expect(s.getSigningKey('k1')).rejects.toBeInstanceOf(KeyRevokedError);
  });

  it('the fleet repairs a poisoned shared set at its next fetch (the stored set becomes usable again)', async () => {
    const f = fleetOf(2);
    all.push(...f.sources);
    await Promise.all(f.sources.map((s) => s.start()));
    poison(f);
    await settle();
    await f.sources[0].refresh();
    await settle();
    const stored = f.fleet.read(ID)!;
    expect((JSON.parse(stored.jwks!) as { keys: unknown[] }).keys.length).toBeGreaterThan(0);
  });

  it('after poisoning, unknown kids over four processes still cost one upstream fetch per cooldown', async () => {
    const f = fleetOf(4);
    all.push(...f.sources);
    await Promise.all(f.sources.map((s) => s.start()));
    poison(f);
    await settle();
    f.idp.calls = 0;
    const done = Promise.allSettled(Array.from({ length: 400 }, (_, i) => f.sources[i % 4].getSigningKey(`made-up-${i}`)));
    // Waits (lease polls, maxWaitMs) run on the fake clock: let 3 s pass, well within the cooldown.
    for (let t = 0; t < 30; t++) {
      await settle();
      await f.clock.advance(100);
    }
    await done;
    await settle();
    expect(f.idp.calls).toBe(1);
  });
});

describe('attack: weird fleet options', () => {
  it('a Redis password containing "/" is not shown in the startup error of an invalid URL', () => {
    let message = '';
    try {
      resolveJwksOptions({ ...BASE, fleet: { redis: 'redis://:Zm9v/YmFy+s3cr3t=@cache.internal:6379x' } });
    } catch (err) {
      expect(err).toBeInstanceOf(JwksOptionsError);
      message = (err as Error).message;
    }
    expect(message).toContain('fleet.redis');
    expect(message).not.toContain('s3cr3t');
  });

  it('a password without "/" in an invalid URL is masked (control)', () => {
    expect(() => resolveJwksOptions({ ...BASE, fleet: { redis: 'redis://:s3cr3t@cache.internal:99999' } })).toThrow(JwksOptionsError);
    try {
      resolveJwksOptions({ ...BASE, fleet: { redis: 'redis://:s3cr3t@cache.internal:99999' } });
    } catch (err) {
      expect((err as Error).message).not.toContain('s3cr3t');
    }
  });

  it('fleet with a getter that throws, a throwing Proxy, or a URL object is a typed startup error, not a crash', () => {
    const getter = {
      get redis(): string {
        throw new Error('secret-getter-value');
      },
    };
    const proxy = new Proxy(
      {},
      {
        get: () => {
          throw new Error('secret-proxy-value');
        },
        ownKeys: () => {
          throw new Error('secret-proxy-keys');
        },
      },
    );
    const cases: [string, unknown][] = [
      ['getter', getter],
      ['proxy', proxy],
      // A URL object (a natural mistake for the URL string) is not ioredis options: taken as such it would connect to 127.0.0.1:6379.
      ['URL object', { redis: new URL('redis://prod-redis.internal:6379') }],
      ['function', { redis: () => 'redis://x' }],
      ['http url', { redis: 'http://127.0.0.1:6379' }],
      ['prefix with space', { redis: 'redis://h', keyPrefix: 'has space' }],
    ];
    for (const [label, fleet] of cases) {
      let caught: unknown;
      try {
        resolveJwksOptions({ ...BASE, fleet } as never);
      } catch (err) {
        caught = err;
      }
      expect([label, caught]).toEqual([label, expect.any(JwksOptionsError)]);
      expect((caught as Error).message).not.toMatch(/secret-/);
    }
  });
});
