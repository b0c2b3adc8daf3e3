import { generateKeyPairSync } from 'node:crypto';
import { IssuerRegistry } from '../../lib/issuers/issuer.registry';
import type { KeySetState } from '../../lib/cache/key-set.state';
import type { KeySetId, KeySetStore } from '../../lib/store/key-set.store';
import { resolveIssuerOptions, resolveJwksOptions } from '../../lib/options/options.validator';
import { JwksArgumentError } from '../../lib/errors/jwks.errors';
import type { JwksFetcher, JwksFetchRequest } from '../../lib/fetch/jwks.fetcher';
import type { DiscoveryFetcher } from '../../lib/fetch/discovery.fetcher';
import type { JwksAuthModuleOptions } from '../../lib';
import { FakeClock, flushPromises } from '../../lib/testing';

const A = 'https://a.test/';
const B = 'https://b.test/';
const C = 'https://c.test/';
const T0 = 1_700_000_000_000;

const ecKey = (kid: string) => ({ ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }), kid, alg: 'ES256' });
const rsaKey = (kid: string) => ({ ...generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }), kid, alg: 'RS256' });

const SETS: Record<string, object[]> = {
  [`${A}jwks`]: [ecKey('a1')],
  [`${B}jwks`]: [rsaKey('b1')],
  [`${C}jwks`]: [ecKey('c1')],
};

const twoIssuers: JwksAuthModuleOptions = {
  issuers: [
    { issuer: A, jwksUri: `${A}jwks`, audience: 'api-a', algorithms: ['ES256'] },
    { issuer: B, jwksUri: `${B}jwks`, audience: 'api-b', algorithms: ['RS256', 'PS256'] },
  ],
  maxIssuers: 3,
};

/** Serves each issuer's set by URI; can hold every request until released (or aborted). */
function fakeIdp() {
  const idp = {
    requests: [] as JwksFetchRequest[],
    gate: null as Promise<void> | null,
    fetcher: (async (request) => {
      idp.requests.push(request);
      if (idp.gate) await Promise.race([idp.gate, new Promise((_, reject) => request.signal?.addEventListener('abort', () => reject(new Error('aborted'))))]);
      return { kind: 'ok', jwks: JSON.stringify({ keys: SETS[request.uri] }), etag: null };
    }) as JwksFetcher,
  };
  return idp;
}

function fakeStore(withDelete = true) {
  const store = {
    deletes: [] as KeySetId[],
    load: async () => null,
    save: async (_id: KeySetId, _s: KeySetState) => {},
    ...(withDelete ? { delete: (id: KeySetId) => void store.deletes.push(id) } : {}),
  };
  return store satisfies KeySetStore;
}

const noDiscovery: DiscoveryFetcher = async () => {
  throw new Error('not used');
};

function registryOf(input: JwksAuthModuleOptions = twoIssuers, store: ReturnType<typeof fakeStore> = fakeStore()) {
  const options = resolveJwksOptions(input);
  const idp = fakeIdp();
  const clock = new FakeClock(T0, { random: () => 0.5 });
  const registry = new IssuerRegistry({ options, clock, fetcher: idp.fetcher, discover: noDiscovery, store, listeners: [] });
  return { registry, options, idp, clock, store };
}

describe('IssuerRegistry.route', () => {
  it('finds an issuer by its exact iss, with its own key set', () => {
    const { registry } = registryOf();
    expect(registry.route(A)?.issuer).toBe(A);
    expect(registry.route(A)?.keys).toBe(registry.source(A));
    expect(registry.route(B)?.keys).toBe(registry.source(B));
    expect(registry.route(B)?.claims.audience).toEqual(['api-b']);
  });

  it.each(['https://a.test', 'https://A.test/', 'HTTPS://a.test/', ' https://a.test/', 'https://a.test/ ', 'https://a.test//', '', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'])(
    'matches nothing for the string %j',
    (iss) => {
      expect(registryOf().registry.route(iss)).toBeUndefined();
    },
  );

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a number', 42],
    ['an object', {}],
    ['an array holding the issuer', [A]],
    ['an object whose toString is the issuer', { toString: () => A }],
    ['a String object', new String(A)],
  ])('matches nothing for %s', (_what, iss) => {
    expect(registryOf().registry.route(iss)).toBeUndefined();
  });
});

describe('IssuerRegistry.algorithms', () => {
  it('is the union of the issuers’ algorithms, kept up to date by add and remove', async () => {
    const { registry, options } = registryOf();
    expect([...registry.algorithms].sort()).toEqual(['ES256', 'PS256', 'RS256']);
    registry.add(resolveIssuerOptions({ issuer: C, jwksUri: `${C}jwks`, audience: 'api-c', algorithms: ['EdDSA'] }, options));
    expect([...registry.algorithms].sort()).toEqual(['ES256', 'EdDSA', 'PS256', 'RS256']);
    await registry.remove(B);
    expect([...registry.algorithms].sort()).toEqual(['ES256', 'EdDSA']);
    await registry.close();
  });

  it('with one issuer is that issuer’s own set (so the verifier skips its second check)', async () => {
    const single = registryOf({ issuer: A, jwksUri: `${A}jwks`, audience: 'api', algorithms: ['ES256'] }).registry;
    expect(single.algorithms).toBe(single.route(A)?.algorithms);
    const { registry } = registryOf();
    expect(registry.algorithms).not.toBe(registry.route(A)?.algorithms);
    await registry.remove(B);
    expect(registry.algorithms).toBe(registry.route(A)?.algorithms);
    await registry.close();
  });
});

describe('IssuerRegistry.add', () => {
  it('is bounded by maxIssuers', async () => {
    const { registry, options } = registryOf();
    registry.add(resolveIssuerOptions({ issuer: C, jwksUri: `${C}jwks`, audience: 'api-c' }, options));
    expect(registry.size).toBe(3);
    const fourth = resolveIssuerOptions({ issuer: 'https://d.test/', jwksUri: 'https://d.test/jwks', audience: 'api-d' }, options);
    expect(() => registry.add(fourth)).toThrow(JwksArgumentError);
    expect(() => registry.add(fourth)).toThrow('at most 3 issuers (maxIssuers); remove one first or raise maxIssuers');
    expect(registry.size).toBe(3);
    expect(registry.route('https://d.test/')).toBeUndefined();
    await registry.remove(C);
    expect(() => registry.add(fourth)).not.toThrow();
    await registry.close();
  });

  it('refuses an issuer already configured, keeping the one it has', () => {
    const { registry, options } = registryOf();
    const before = registry.source(A);
    const again = resolveIssuerOptions({ issuer: A, jwksUri: 'https://elsewhere.test/jwks', audience: 'other' }, options);
    expect(() => registry.add(again)).toThrow(JwksArgumentError);
    expect(() => registry.add(again)).toThrow(`issuer "${A}" is already configured`);
    expect(registry.source(A)).toBe(before);
    expect(registry.route(A)?.claims.audience).toEqual(['api-a']);
    expect(registry.size).toBe(2);
  });
});

describe('IssuerRegistry.remove', () => {
  it('closes the source (its keys stop being current), forgets the issuer and deletes its stored state', async () => {
    const { registry, store, clock } = registryOf();
    await registry.start();
    const b = registry.source(B);
    const [key] = b.peekKeys('b1', 'RS256') ?? [];
    expect(b.isKeyCurrent(key)).toBe(true);
    expect(clock.pending()).toHaveLength(2);
    await expect(registry.remove(B)).resolves.toBe(true);
    expect(b.isKeyCurrent(key)).toBe(false);
    expect(store.deletes).toEqual([{ issuer: B, jwksUri: `${B}jwks` }]);
    expect(registry.route(B)).toBeUndefined();
    expect(registry.has(B)).toBe(false);
    expect(registry.issuers()).toEqual([A]);
    expect(() => registry.source(B)).toThrow(JwksArgumentError);
    expect(clock.pending()).toHaveLength(1); // only A's refresh timer is left
    // A is untouched.
    const [a1] = registry.source(A).peekKeys('a1', 'ES256') ?? [];
    expect(registry.source(A).isKeyCurrent(a1)).toBe(true);
    await registry.close();
  });

  it('cancels a fetch in flight of the removed issuer', async () => {
    const { registry, idp } = registryOf();
    idp.gate = new Promise(() => {});
    void registry.start();
    await flushPromises();
    const b = idp.requests.find((r) => r.uri === `${B}jwks`);
    await registry.remove(B);
    expect(b?.signal?.aborted).toBe(true);
    expect(idp.requests.find((r) => r.uri === `${A}jwks`)?.signal?.aborted).toBe(false);
    await registry.close();
  });

  it('resolves false for an issuer that is not configured, deleting nothing', async () => {
    const { registry, store } = registryOf();
    await expect(registry.remove('https://unknown.test/')).resolves.toBe(false);
    await expect(registry.remove('__proto__')).resolves.toBe(false);
    await expect(registry.remove(42 as never)).resolves.toBe(false);
    expect(store.deletes).toEqual([]);
    expect(registry.size).toBe(2);
  });

  it('works with a store that has no delete', async () => {
    const { registry } = registryOf(twoIssuers, fakeStore(false));
    await expect(registry.remove(B)).resolves.toBe(true);
    expect(registry.size).toBe(1);
  });
});

describe('IssuerRegistry.source', () => {
  it('without an issuer: the only one with one, a coded error with none or several', async () => {
    const { registry } = registryOf();
    expect(() => registry.source()).toThrow(JwksArgumentError);
    expect(() => registry.source()).toThrow(`2 issuers are configured: pass the issuer (its exact iss) as the last argument, one of "${A}", "${B}"`);
    await registry.remove(B);
    expect(registry.source()).toBe(registry.source(A));
    await registry.remove(A);
    expect(() => registry.source()).toThrow('no issuer is configured');
  });

  it('names an unknown issuer briefly, and a non-string by its type', () => {
    const { registry } = registryOf();
    expect(() => registry.source('https://nope.test/')).toThrow(`"https://nope.test/" is not a configured issuer; configured: "${A}", "${B}"`);
    expect(() => registry.source(`https://${'x'.repeat(200)}/`)).toThrow(/^"https:\/\/x+\.\.\." is not a configured issuer; configured: /);
    // The usual mistake gets its own hint.
    expect(() => registry.source(A.slice(0, -1))).toThrow(`(it differs by a trailing slash from the configured "${A}")`);
    expect(() => registry.source(42 as never)).toThrow('number is not a configured issuer');
  });
});

describe('IssuerRegistry.start', () => {
  it('warms every issuer at once', async () => {
    const { registry, idp } = registryOf();
    let release!: () => void;
    idp.gate = new Promise((r) => (release = r));
    const warm = registry.start();
    await flushPromises();
    // Both requests are out before either is answered.
    expect(idp.requests.map((r) => r.uri).sort()).toEqual([`${A}jwks`, `${B}jwks`]);
    release();
    await warm;
    expect(registry.source(A).getState().kids).toEqual(['a1']);
    expect(registry.source(B).getState().kids).toEqual(['b1']);
    await registry.close();
  });

  it('waits warmupTimeoutMs once for all of them, not once per issuer', async () => {
    const { registry, idp, clock, options } = registryOf();
    idp.gate = new Promise(() => {});
    let done = false;
    const warm = registry.start().then(() => (done = true));
    await clock.advance(options.warmupTimeoutMs - 1);
    expect(done).toBe(false);
    await clock.advance(1);
    await warm;
    expect(done).toBe(true);
    await registry.close();
  });
});
