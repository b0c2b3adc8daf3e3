import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initialKeySetState } from '../../lib/cache/key-set.state';
import { SnapshotFileKeySetStore } from '../../lib/store/snapshot-file-key-set.store';
import { MemoryKeySetStore } from '../../lib/store/memory-key-set.store';

const URI = 'https://issuer.test/jwks.json';

describe('SnapshotFileKeySetStore', () => {
  let dir: string;
  let lines: string[];
  let store: SnapshotFileKeySetStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'jwks-file-store-'));
    lines = [];
    const log = { warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
    store = new SnapshotFileKeySetStore({ path: join(dir, 'jwks.json'), jwksUri: URI, maxBytes: 64 * 1024, log });
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('keeps only the set itself: failures, backoff and revocations start afresh on load', async () => {
    const state = { ...initialKeySetState(), jwks: '{"keys":[]}', fetchedAt: 1_000, etag: '"e"', freshUntil: 2_000, failures: 3, notBefore: 9_000, revokedKids: ['k1'] };
    await store.save(state);
    expect(await store.load()).toEqual({ ...initialKeySetState(), jwks: '{"keys":[]}', fetchedAt: 1_000, etag: '"e"', freshUntil: 2_000 });
    expect(lines).toEqual([]);
  });

  it('logs why a file is refused and loads nothing', async () => {
    expect(await store.load()).toBeNull();
    expect(lines).toEqual(['JWKS snapshot: not used (missing)']);
  });

  it('refuses a file others may write, with the reason', async () => {
    await writeFile(join(dir, 'jwks.json'), JSON.stringify({ version: 1, jwksUri: URI, jwks: '{"keys":[]}', fetchedAt: 1, etag: null, freshUntil: 2 }));
    await chmod(join(dir, 'jwks.json'), 0o666);
    expect(await store.load()).toBeNull();
    expect(lines).toEqual(['JWKS snapshot: not used (writable-by-others)']);
  });

  it('logs a failed write instead of failing', async () => {
    const broken = new SnapshotFileKeySetStore({ path: join(dir, 'no-such-dir', 'jwks.json'), jwksUri: URI, maxBytes: 1024, log: { warn: (m) => lines.push(m), error: (m) => lines.push(m) } });
    await expect(broken.save({ ...initialKeySetState(), jwks: '{"keys":[]}', fetchedAt: 1, freshUntil: 2 })).resolves.toBeUndefined();
    expect(lines).toEqual(['JWKS snapshot: could not be written (ENOENT)']);
  });
});

describe('MemoryKeySetStore', () => {
  it('loads what was last saved, nothing before', async () => {
    const store = new MemoryKeySetStore();
    expect(await store.load()).toBeNull();
    const state = { ...initialKeySetState(), jwks: '{"keys":[]}', fetchedAt: 1 };
    await store.save(state);
    expect(await store.load()).toBe(state);
  });
});
