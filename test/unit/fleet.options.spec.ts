import { MemoryKeySetStore } from '../../lib';
import { resolveJwksOptions } from '../../lib/options/options.validator';
import { BASE_OPTIONS, optionProblems } from '../fixtures/option-problems';
import { MemoryFleet } from '../fixtures/memory-fleet.store';
import { FakeClock } from '../../lib/testing';

const base = BASE_OPTIONS;
const problems = optionProblems;

describe('the fleet option', () => {
  it('resolves: absent is null; a URL, ioredis options or a client with the default or given prefix; a fleet store', () => {
    expect(resolveJwksOptions(base).fleet).toBeNull();
    expect(resolveJwksOptions({ ...base, fleet: { redis: 'redis://127.0.0.1:6379' } }).fleet).toEqual({ kind: 'redis', redis: 'redis://127.0.0.1:6379', keyPrefix: 'jwks-auth:' });
    expect(resolveJwksOptions({ ...base, fleet: { redis: 'rediss://user:pw@cache.internal:6380/2', keyPrefix: 'prod:jwks:' } }).fleet).toMatchObject({ keyPrefix: 'prod:jwks:' });
    const sentinel = { sentinels: [{ host: '10.0.0.1', port: 26379 }], name: 'mymaster' };
    expect(resolveJwksOptions({ ...base, fleet: { redis: sentinel } }).fleet).toEqual({ kind: 'redis', redis: sentinel, keyPrefix: 'jwks-auth:' });
    const client = { status: 'ready', call: () => Promise.resolve(null), duplicate: () => client };
    expect(resolveJwksOptions({ ...base, fleet: { redis: client } as never }).fleet).toMatchObject({ kind: 'redis', redis: client });
    const store = new MemoryFleet(new FakeClock()).process();
    expect(resolveJwksOptions({ ...base, fleet: { store } }).fleet).toEqual({ kind: 'store', store });
  });

  it.each([
    ['not an object', 'redis://x', /^fleet must be \{ redis/],
    ['empty', {}, /^fleet needs redis or store/],
    ['a misspelt member', { redis: 'redis://x:1', keyprefix: 'a' }, /fleet\.keyprefix.*keyPrefix/],
    ['another scheme', { redis: 'http://cache:6379' }, /^fleet\.redis must be a redis:\/\/ or rediss:\/\/ URL/],
    ['a number', { redis: 6379 }, /^fleet\.redis must be a redis:\/\/ URL, ioredis options or an ioredis client/],
    ['a prefix with spaces', { redis: 'redis://x:1', keyPrefix: 'my app:' }, /^fleet\.keyPrefix must be at most 100 printable characters/],
    ['a prefix too long', { redis: 'redis://x:1', keyPrefix: 'p'.repeat(101) }, /^fleet\.keyPrefix/],
    ['both redis and store', { redis: 'redis://x:1', store: new MemoryFleet(new FakeClock()).process() }, /either store or redis/],
    ['a per-process store', { store: new MemoryKeySetStore() }, /^fleet\.store must be a key-set store with load, save, watch, lease and update/],
  ])('refuses %s with a clear problem', (_name, fleet, message) => {
    const found = problems({ fleet });
    expect(found.some((p) => message.test(p))).toBe(true);
  });

  it('never shows a password of the Redis URL in a problem', () => {
    const found = problems({ fleet: { redis: 'http://admin:s3cret-pw@cache:6379' } });
    expect(found.join('\n')).not.toContain('s3cret-pw');
    expect(found.join('\n')).toContain('***@cache:6379');
  });

  it('refuses a snapshot file beside a fleet: Redis keeps the set across restarts', () => {
    expect(problems({ fleet: { redis: 'redis://x:1' }, cache: { snapshotPath: '/tmp/jwks.json' } }).some((p) => p.startsWith('cache.snapshotPath and fleet'))).toBe(true);
  });
});
